-- emit.lua: renders a variant's program, schedule, PAB tables and plan through the templates of a
-- backend into the text of its generated files. Pure formatting: every decision was taken by an
-- earlier stage. Not here: writing files (main.lua) or human reports (report.lua).
local fp = require("fp")
local pab = require("pab")
local registry = require("registry")
local Program = require("program")
local template = require("template")
local util = require("util")

local M = {}

local shape_str = util.shape_str

local function off_name(name) return "OFF_" .. util.ident(name) end
local function wt_name(name) return "WT_" .. util.ident(name) end

-- The C text of a dimension: D_<name> (offsets.h's enum).
local function dim_name(name) return "D_" .. name end

-- The C expression of one op argument (`name`: its registry name): an integer that is the dim of
-- that name is written by name, a dim expression with its names.
local function dim_expr(v) return (v.dim:gsub("//", "/"):gsub("[%a_][%w_]*", dim_name)) end
local function arg_expr(P, v, name)
  if Program.is_dim(v) then
    return dim_expr(v)
  elseif math.type(v) == "integer" and name and P.dims[name] == v then
    return dim_name(name)
  elseif type(v) == "table" and v.buf then
    local b = P.buffers[v.buf]
    local e = ({ i32 = "AI(", f32 = "AF(", u8 = "AU(", st = "A(" })[b.dtype] .. off_name(v.buf) .. ")"
    if Program.is_dim(v.off) then e = "(" .. e .. " + " .. dim_expr(v.off) .. ")" -- a column block of the rows
    elseif v.off and v.off ~= 0 then e = "(" .. e .. " + " .. v.off .. ")" end
    return e
  elseif type(v) == "table" and v.w then
    return (P.weights[v.w].dtype == "f32" and "WF(" or "W(") .. wt_name(v.w) .. ")"
  elseif math.type(v) == "integer" then
    return tostring(v)
  elseif type(v) == "number" then
    return fp.c_float(fp.f32(v))
  end
  return tostring(v)
end

local function banner(P, op)
  local ins, outs = {}, {}
  local function seen(b) return shape_str(op.shapes and op.shapes[b] or P.buffers[b].shape) end
  for _, b in ipairs(op.reads) do ins[#ins + 1] = b .. " " .. seen(b) end
  for _, b in ipairs(op.writes) do outs[#outs + 1] = b .. " " .. seen(b) end
  local s = op.kind .. " " .. op.name
  if #ins > 0 then s = s .. ": " .. table.concat(ins, ", ") end
  if #outs > 0 then s = s .. " -> " .. table.concat(outs, ", ") end
  return s
end

-- The registry's kind an op is rendered as: attention kinds have a `<kind>_cudnn` twin (CUDA
-- only), used for --attention cudnn.
local ATTENTION_KINDS = { attention = true, cross_attention = true }
local function section(T, op)
  if T.attention == "cudnn" and ATTENTION_KINDS[op.kind] then return op.kind .. "_cudnn" end
  return op.kind
end

local function render_op(T, P, op, in_group, indent)
  local values = { banner = banner(P, op) }
  for k, v in pairs(op.args) do values[k] = arg_expr(P, v, k) end
  values.store = in_group and "pab_store" or "NULL"
  local text = template.render(T, "banner", values) .. "\n" .. registry.render(section(T, op), T.backend, values)
  if op.dump then
    local buf = P.buffers[op.dump_buf or op.writes[#op.writes]]
    local shape = op.dump_shape or buf.shape
    local dims = {}
    for i, n in ipairs(shape) do dims[i] = tostring(n) end
    text = text .. "\n" .. template.render(T, "dump", {
      name = op.dump, ptr = arg_expr(P, { buf = buf.name }), ndim = #shape, shape = table.concat(dims, ", "),
    })
  end
  if indent then text = text:gsub("([^\n]+)", indent .. "%1") end
  return text
end

-- The body of one phase: ops in order; PAB modules with cache slots become a compute/reuse group,
-- modules the table never reuses are plain compute code.
local function render_phase(T, P, tables, phase)
  local parts = {}
  for _, item in ipairs(P.ops[phase]) do
    if item.group then
      local m = item.module
      local slots = tables.slots[m.index]
      if #slots == 0 then
        for _, op in ipairs(item.compute) do parts[#parts + 1] = render_op(T, P, op, false) end
      else
        local comp, reuse = {}, {}
        for _, op in ipairs(item.compute) do comp[#comp + 1] = render_op(T, P, op, true, "    ") end
        for _, op in ipairs(item.reuse) do reuse[#reuse + 1] = render_op(T, P, op, true, "    ") end
        local slot_expr, names = nil, {}
        for _, s in ipairs(slots) do names[#names + 1] = s.name end
        if #slots == 1 then
          slot_expr = "A(" .. off_name(slots[1].name) .. ")"
        else
          slot_expr = "A(" .. util.ident(m.name) .. "_slots[DITC_PAB_SLOT(pab_cell)])"
        end
        parts[#parts + 1] = template.render(T, "pab_module", {
          index = m.index - 1, name = m.name, kind = m.kind, slots = table.concat(names, ", "),
          slot = slot_expr, compute = table.concat(comp, "\n"), reuse = table.concat(reuse, "\n"),
        })
      end
      if item.dump then
        parts[#parts + 1] = template.render(T, "dump", {
          name = item.dump, ptr = arg_expr(P, { buf = P.residual }), ndim = #P.buffers[P.residual].shape,
          shape = table.concat(P.buffers[P.residual].shape, ", "),
        })
      end
    else
      parts[#parts + 1] = render_op(T, P, item, false)
    end
  end
  return table.concat(parts, "\n")
end

-- Slot offset tables for modules with more than one cache slot (MLP keys with overlapping use).
local function slot_tables(P, tables)
  local out = {}
  for m, slots in ipairs(tables.slots) do
    if #slots > 1 then
      local offs = {}
      for _, s in ipairs(slots) do offs[#offs + 1] = off_name(s.name) end
      out[#out + 1] = string.format("static const size_t %s_slots[%d] = { %s };",
        util.ident(P.modules[m].name), #slots, table.concat(offs, ", "))
    end
  end
  return #out > 0 and (table.concat(out, "\n") .. "\n") or ""
end

local function common(ctx)
  local v = ctx.variant
  return {
    source = ctx.source_desc, family = v.family, variant = v.name, dtype = v.dtype, hash = ctx.hash,
    symbol = v.symbol, storage = ctx.program.storage, storage_macro = Program.STORAGE[ctx.program.storage].macro,
    storage_symbol = Program.STORAGE[ctx.program.storage].symbol, st_bytes = ctx.program.st_bytes,
  }
end

-- The source extension of a backend's forward translation unit.
M.ext = { cpu = "c", cuda = "cu" }

function M.forward_c(ctx, backend)
  local T = template.load("templates/" .. backend .. "/ops." .. M.ext[backend] .. ".in")
  local F = template.load("templates/" .. backend .. "/forward." .. M.ext[backend] .. ".in")
  T = setmetatable({ attention = ctx.attention or "own", backend = backend }, { __index = T }) -- what this variant uses
  local values = common(ctx)
  values.attention = ctx.attention or "own"
  values.slot_tables = ctx.pab and slot_tables(ctx.program, ctx.pab) or ""
  local fns = {}
  for _, ph in ipairs(ctx.program.phases) do
    fns[#fns + 1] = template.render(F, "phase", { symbol = values.symbol, name = ph, doc = ctx.program.phase_doc[ph] or ph,
      body = render_phase(T, ctx.program, ctx.pab, ph) })
  end
  values.phases = table.concat(fns, "\n\n")
  return template.render(F, "file", values) .. "\n"
end

function M.offsets_h(ctx)
  local P, plan = ctx.program, ctx.plan
  local T = template.load("templates/offsets.h.in")
  local values = common(ctx)
  values.arena_bytes, values.weight_elems = plan.arena_bytes, P.weight_elems
  values.persistent_bytes, values.cache_bytes, values.transient_bytes = plan.persistent_bytes, plan.cache_bytes, plan.transient_bytes
  local lines = {}
  for _, b in ipairs(P.buffer_list) do
    local where = b.region == "persistent" and "persistent" or string.format("%s ops %d-%d", b.phase, b.first, b.last)
    lines[#lines + 1] = string.format("#define %s %dull /* %s %s (%s), %s */", off_name(b.name), b.offset,
      shape_str(b.shape), b.dtype, b.dims, where)
  end
  values.buffers = table.concat(lines, "\n")
  lines = {}
  for _, it in ipairs(plan.slot_items) do
    lines[#lines + 1] = string.format("#define %s %dull /* steps %d-%d */", off_name(it.name), it.offset, it.first - 1, it.last - 1)
  end
  table.sort(lines)
  values.slots = #lines > 0 and table.concat(lines, "\n") or "/* none: the PAB table reuses nothing */"
  lines = {}
  for _, w in ipairs(P.weight_list) do
    lines[#lines + 1] = string.format("#define %s %dull /* %s%s%s */", wt_name(w.name), w.offset, shape_str(w.shape),
      w.view and (", read as " .. shape_str(w.view)) or "",
      w.dtype == "f32" and string.format(", fp32 (%d storage elements)", w.st_elems) or "")
  end
  values.weights = table.concat(lines, "\n")
  local names = {}
  for k in pairs(P.dims) do names[#names + 1] = k end
  table.sort(names)
  lines = {}
  for _, k in ipairs(names) do
    local doc = P.dim_doc[k]
    lines[#lines + 1] = string.format("#define %s ((int64_t)%d)%s", dim_name(k), P.dims[k], doc and (" /* " .. doc .. " */") or "")
  end
  values.dims = #lines > 0 and table.concat(lines, "\n") or "/* none: the program names no dims */"
  return template.render(T, "file", values) .. "\n"
end

local function float_list(list, per_line)
  local out, line = {}, {}
  for i, x in ipairs(list) do
    line[#line + 1] = fp.c_float(fp.f32(x))
    if #line == per_line or i == #list then out[#out + 1] = "  " .. table.concat(line, ", ") .. ","; line = {} end
  end
  return table.concat(out, "\n")
end

local function int_list(list, per_line)
  local out, line = {}, {}
  for i, x in ipairs(list) do
    line[#line + 1] = tostring(x)
    if #line == per_line or i == #list then out[#out + 1] = "  " .. table.concat(line, ", ") .. ","; line = {} end
  end
  return table.concat(out, "\n")
end

local function c_string_lines(text)
  local out = {}
  for line in text:gmatch("([^\n]*)\n") do
    out[#out + 1] = '  "' .. line:gsub("\\", "\\\\"):gsub('"', '\\"') .. '\\n"'
  end
  return table.concat(out, "\n")
end

-- The denoiser part of tables.c: sampler schedule, PAB tables, communication schedule,
-- conditioning inputs and the denoiser descriptor.
local function denoiser_tables(ctx, T)
  local v, P, sched, tables = ctx.variant, ctx.program, ctx.sched, ctx.pab
  local d = v.dims
  local values = {}
  for _, k in ipairs({ "Bp", "B", "Cin", "Cout", "Tx", "Hx", "Wx", "L", "Cc" }) do values[k] = d[k] end
  values.K, values.M = sched.K, #P.modules
  values.sampler, values.sampler_kind, values.n_state = sched.kind, sched.kind_id, sched.n_state
  values.off_state = P.buffers["sampler.state"] and off_name("sampler.state") or "0"
  values.coef_comment = sched.coef_doc
  values.sampler_comment = string.format("%s, %d steps, cfg %s, pipeline dtype %s%s", sched.kind, sched.K,
    tostring(v.sampler.cfg_scale), v.dtype, sched.ratio and (", shift ratio " .. fp.f32_str(sched.ratio)) or "")
  values.cfg_scale = fp.c_float(fp.f32(v.sampler.cfg_scale))
  values.cond_first = v.sampler.cfg_order == "cond_first" and 1 or 0
  values.t_sched = float_list(sched.t, 6)
  values.t_embed = float_list(sched.t_embed, 6)
  local coef = {}
  for i, c in ipairs(sched.coef) do
    local f = {}
    for k = 1, 4 do f[k] = fp.c_float(fp.f32(c[k])) end
    coef[i] = "  { " .. table.concat(f, ", ") .. " },"
  end
  values.coef = table.concat(coef, "\n")
  values.mode = int_list(sched.mode, 30)
  local upd = {}
  for i, u in ipairs(sched.update) do upd[i] = u and 1 or 0 end
  values.update = int_list(upd, 30)
  values.tau = int_list(sched.tau, 15)
  local comm = ctx.comm
  values.sp, values.a2a_bytes, values.gather_bytes = comm.sp, comm.a2a_bytes, comm.gather_bytes
  values.cfg_parallel = d.cfgp > 1 and 1 or 0
  values.a2a_per_step = int_list(comm.a2a, 30)
  values.a2a_comment = comm.sp > 1 and string.format("%d bytes sent per all-to-all", comm.a2a_bytes) or "sp = 1: none"
  values.pab_comment = ctx.pab_comment
  local names, kinds, flops = {}, {}, {}
  for _, m in ipairs(P.modules) do
    names[#names + 1] = string.format('  "%s",', m.name)
    kinds[#kinds + 1] = string.format('  "%s",', m.kind)
    flops[#flops + 1] = string.format("  %.17g,", m.flops)
  end
  values.module_names, values.module_kinds, values.module_flops = table.concat(names, "\n"), table.concat(kinds, "\n"), table.concat(flops, "\n")
  values.step_flops = string.format("%.17g", P.step_flops)
  local rows = {}
  for i = 1, sched.K do
    local cells = {}
    for m = 1, #P.modules do
      local o = tables.op[i][m]
      cells[m] = tostring(pab.cell(o))
    end
    rows[i] = string.format("  /* step %2d, tau %4d */ { %s },", i - 1, sched.tau[i], table.concat(cells, ", "))
  end
  values.pab_rows = table.concat(rows, "\n")
  values.n_patterns, values.pab_pattern = tables.n_patterns, int_list(tables.pattern, 30)
  values.schedule_text = c_string_lines(ctx.schedule_txt)
  local ins = {}
  for _, inp in ipairs(P.inputs) do
    ins[#ins + 1] = string.format('  { "%s", %s, %d, %d, %s },', inp.name, inp.role, inp.half, inp.optional, off_name(inp.buf))
  end
  values.n_inputs, values.inputs = #P.inputs, table.concat(ins, "\n")
  for _, k in ipairs({ "x", "t", "text", "mask" }) do
    values["fwd_" .. k] = P.fwd[k] and ('"' .. P.fwd[k] .. '"') or "NULL"
  end
  return template.render(T, "denoiser", values) .. "\n"
end

function M.tables_c(ctx)
  local v, P = ctx.variant, ctx.program
  local T = template.load("templates/tables.c.in")
  local values = common(ctx)
  values.kind = ctx.sched and "denoiser" or "network"
  values.tables_doc = ctx.sched and "Baked sampler schedule, PAB tables, weight manifest and the ditc_variant descriptor."
    or "Weight manifest, io table, phases and the ditc_variant descriptor (a network: no sampler, no PAB)."
  values.denoiser = ctx.sched and denoiser_tables(ctx, T) or ""
  values.denoiser_ref = ctx.sched and "&denoiser" or "NULL"
  values.host_bytes = ctx.plan.arena_bytes
  if ctx.variant.backend == "cuda" then -- the host holds the io buffers only
    values.host_bytes = 0
    for _, b in ipairs(P.buffer_list) do
      if b.kind == "io" then values.host_bytes = math.max(values.host_bytes, b.offset + b.bytes) end
    end
  end
  local work = P.buffers["cuda.workspace"]
  values.off_workspace = work and off_name(work.name) or "0"
  values.workspace_bytes = work and work.bytes or 0
  local ws = {}
  for _, w in ipairs(P.weight_list) do
    local sh = {}
    for i = 1, 5 do sh[i] = tostring(w.shape[i] or 0) end
    ws[#ws + 1] = string.format('  { "%s", %d, { %s }, %s, %d, %s },', w.name, #w.shape, table.concat(sh, ", "),
      wt_name(w.name), w.elems, w.dtype == "f32" and "DITC_WT_F32" or "DITC_WT_ST")
  end
  values.n_weights, values.weights = #P.weight_list, table.concat(ws, "\n")
  local sk = {}
  for _, w in ipairs(P.skipped) do
    local sh = {}
    for i = 1, 5 do sh[i] = tostring(w.shape[i] or 0) end
    sk[#sk + 1] = string.format('  { "%s", %d, { %s }, -1, %d, DITC_WT_ST }, /* %s */', w.name, #w.shape,
      table.concat(sh, ", "), w.elems, w.why)
  end
  values.n_skipped = #sk
  values.skipped = #sk > 0 and ("\n/* ---- tensors a checkpoint may hold that are not loaded ---- */\nstatic const ditc_weight_spec "
    .. "skipped[" .. #sk .. "] = {\n" .. table.concat(sk, "\n") .. "\n};\n") or ""
  values.skipped_ref = #sk > 0 and "skipped" or "NULL"
  local ig = {}
  for _, p in ipairs(P.ignored) do ig[#ig + 1] = string.format('  "%s", /* %s */', p.prefix, p.why) end
  values.n_ignored = #ig
  values.skipped = values.skipped .. (#ig > 0 and ("\n/* ---- name prefixes of checkpoint tensors ignored unread ---- */\n"
    .. "static const char *const ignored[" .. #ig .. "] = {\n" .. table.concat(ig, "\n") .. "\n};\n") or "")
  values.ignored_ref = #ig > 0 and "ignored" or "NULL"
  values.video_fps = P.video_fps or 0
  local io = {}
  for _, b in ipairs(P.buffer_list) do
    if b.kind == "io" then
      local sh = {}
      for i, n in ipairs(b.shape) do sh[i] = tostring(n) end
      local lo, hi = 1, 0 -- any value
      if b.range then lo, hi = b.range[1], b.range[2] end
      io[#io + 1] = string.format('  { "%s", DITC_IO_%s, DITC_DT_%s, %d, { %s }, "%s", %s, %d, %d, %d, %d },', b.name,
        b.role:upper(), b.dtype:upper(), #b.shape, table.concat(sh, ", "), b.dims, off_name(b.name), b.bytes,
        b.batched and 1 or 0, lo, hi)
    end
  end
  values.n_io, values.io = #io, table.concat(io, "\n")
  local decls, phases = {}, {}
  for _, ph in ipairs(P.phases) do
    decls[#decls + 1] = string.format("void %s_%s(const ditc_exec *ex, const unsigned char *row);", v.symbol, ph)
    phases[#phases + 1] = string.format('  { "%s", %s_%s },', ph, v.symbol, ph)
  end
  values.phase_decls, values.n_phases, values.phases = table.concat(decls, "\n"), #phases, table.concat(phases, "\n")
  return template.render(T, "file", values) .. "\n"
end

function M.entry_c(ctx)
  return template.render(template.load("templates/tables.c.in"), "entry", common(ctx)) .. "\n"
end

return M

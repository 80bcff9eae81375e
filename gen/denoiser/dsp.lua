-- dsp.lua: the communication schedule of a sequence-parallel variant, read off its op program
-- and PAB table: the all-to-alls each step runs (those inside a module's compute branch are
-- skipped on the module's REUSE steps, docs/upstream.md#dsp-and-pab), the bytes a rank sends, and the
-- PAB paper's volume metric (B*T*S*C*dtype bytes / P per all-to-all, no (P-1)/P factor, no
-- padding; docs/upstream.md#dsp-and-pab), with PAB and without it. Not here: emitting the collectives (dit_layers.lua) or running them (runtime).
local pab = require("pab")

local M = {}

local dtype_bytes = { fp32 = 4, bf16 = 2, fp16 = 2 }

function M.schedule(P, tables, v)
  local d = v.dims
  local s = { sp = d.sp, a2a = {}, a2a_bytes = 0, gather_bytes = 0, always = 0, cfg_bytes = 0 }
  for _, item in ipairs(P.ops.step) do -- CFG parallelism: the output half sent to the pair rank
    if item.kind == "cfg_gather" then s.cfg_bytes = item.args.bytes end
  end
  if d.sp == 1 then
    for i = 1, tables.K do s.a2a[i] = 0 end
    s.total_a2a, s.total_bytes, s.paper_bytes, s.all_a2a, s.paper_bytes_all = 0, 0, 0, 0, 0
    return s
  end
  local per_module = {}
  for _, item in ipairs(P.ops.step) do
    if item.group then
      local n = 0
      for _, op in ipairs(item.compute) do
        if op.kind == "all_to_all" then n, s.a2a_bytes = n + 1, (d.sp - 1) * op.args.chunk end
      end
      per_module[item.module.index] = n
    elseif item.kind == "all_to_all" then
      s.always, s.a2a_bytes = s.always + 1, (d.sp - 1) * item.args.chunk
    elseif item.kind == "all_gather" then
      s.gather_bytes = s.gather_bytes + (d.sp - 1) * item.args.bytes
    end
  end
  s.total_a2a, s.all_a2a = 0, 0 -- with PAB; without it (every module computes)
  for i = 1, tables.K do
    local n = s.always
    s.all_a2a = s.all_a2a + s.always
    for m = 1, #P.modules do
      if tables.op[i][m].op ~= pab.REUSE then n = n + per_module[m] end
      s.all_a2a = s.all_a2a + per_module[m]
    end
    s.a2a[i] = n
    s.total_a2a = s.total_a2a + n
  end
  s.total_bytes = s.total_a2a * s.a2a_bytes + tables.K * s.gather_bytes
  s.paper_per_a2a = d.B * d.T * d.S * d.C * dtype_bytes[v.dtype] / d.sp
  s.paper_bytes = s.total_a2a * s.paper_per_a2a
  s.paper_bytes_all = s.all_a2a * s.paper_per_a2a
  return s
end

return M

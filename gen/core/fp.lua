-- fp.lua: float32 and bfloat16 rounding for the generator, so timesteps and constants are
-- computed with the same rounding as upstream's tensors. Not an arbitrary-precision library:
-- every operation is a double-precision operation followed by one rounding, which equals the
-- correctly rounded float32/bf16 result for + - * / and sqrt.
local M = {}

-- Rounds a double to the nearest float32 (ties to even).
function M.f32(x)
  return (string.unpack("<f", string.pack("<f", x)))
end

-- Rounds a double to float32, then float32 to bfloat16 (round to nearest even on the upper
-- 16 bits), as torch does for .to(torch.bfloat16).
function M.bf16(x)
  local b = string.unpack("<I4", string.pack("<f", x))
  if (b & 0x7f800000) == 0x7f800000 then return M.f32(x) end -- inf / nan pass through
  b = (b + 0x7fff + ((b >> 16) & 1)) & 0xffff0000
  return (string.unpack("<f", string.pack("<I4", b)))
end

-- Rounds a double to float32, then to IEEE half (round to nearest even), as .to(torch.float16).
function M.f16(x)
  x = M.f32(x)
  if x ~= x or x == 0 then return x end
  local a = math.abs(x)
  if a >= 65520 then return x > 0 and math.huge or -math.huge end
  local e = math.max(math.floor(math.log(a, 2)), -14) -- subnormals keep exponent -14
  local q = 2.0 ^ (e - 10)
  local m = a / q
  local r = math.floor(m)
  local frac = m - r
  if frac > 0.5 or (frac == 0.5 and r % 2 == 1) then r = r + 1 end
  local out = r * q
  return x < 0 and -out or out
end

-- The rounding function of a dtype name.
function M.rounder(dtype)
  if dtype == "fp32" then return M.f32 end
  if dtype == "fp16" then return M.f16 end
  if dtype == "bf16" then return function(x) return M.bf16(M.f32(x)) end end
  error("fp: unknown dtype " .. tostring(dtype))
end

-- Python int(): truncation toward zero.
function M.trunc(x)
  if x >= 0 then return math.floor(x) end
  return -math.floor(-x)
end

-- Shortest decimal that reads back as the same float32 (for C literals and reports).
function M.f32_str(x)
  assert(M.f32(x) == x, "fp.f32_str: value is not a float32: " .. tostring(x))
  if x == math.floor(x) and math.abs(x) < 2^24 then return string.format("%.1f", x) end
  for digits = 6, 9 do
    local s = string.format("%." .. digits .. "g", x)
    if M.f32(tonumber(s)) == x then return s end
  end
  error("unreachable")
end

-- A C float literal that round-trips.
function M.c_float(x)
  local s = M.f32_str(x)
  if not s:find("[%.eEn]") then s = s .. ".0" end
  return s .. "f"
end

return M

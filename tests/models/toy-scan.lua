-- tests/models/toy-scan.lua: a network whose state persists across calls (class ToyScan,
-- gen/families/toy_scan.lua): one row a call, a running sum of the rows. The tests run a file of
-- several rows through it (tests/network_test.sh). Not a real model.
return {
  family = "toy-scan",
  class = "ToyScan",
  symbol = "scan",
  config = { features = 5 },
  variants = { fixture = {} },
}

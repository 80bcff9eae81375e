/* tiny_variant.c: the descriptor of tiny_variant.h. Arena (bytes): x 0..64, t 64..72, z 128..160,
 * y 192..216, mask 256..268, out 320..384. Not generated code, not a model. */
#include "tiny_variant.h"

#include <stddef.h>

static const ditc_weight_spec tiny_weights[2] = {
    {"blk.weight", 2, {3, 2}, 0, 6, DITC_WT_ST},
    {"blk.bias", 1, {3}, 8, 3, DITC_WT_ST},
};

static const ditc_input_spec tiny_inputs[2] = {
    {"y", DITC_IN_TEXT, 0, 0, 192},
    {"mask", DITC_IN_MASK, 0, 1, 256},
};

static const ditc_io tiny_io[6] = {
    {"in.x", DITC_IO_INPUT, DITC_DT_F32, 5, {2, 2, 1, 2, 2}, "B, Cin, Tx, Hx, Wx", 0, 64, 0, 1, 0},
    {"in.t", DITC_IO_INPUT, DITC_DT_F32, 1, {2}, "B", 64, 8, 0, 1, 0},
    {"sampler.z", DITC_IO_STATE, DITC_DT_F32, 5, {1, 2, 1, 2, 2}, "Bp, Cin, Tx, Hx, Wx", 128, 32, 0, 1, 0},
    {"in.y", DITC_IO_INPUT, DITC_DT_F32, 3, {1, 3, 2}, "Bp, L, Cc", 192, 24, 0, 1, 0},
    {"in.mask", DITC_IO_INPUT, DITC_DT_I32, 2, {1, 3}, "Bp, L", 256, 12, 0, 1, 0},
    {"out", DITC_IO_OUTPUT, DITC_DT_F32, 5, {2, 2, 1, 2, 2}, "2 Bp, Cout, Tx, Hx, Wx", 320, 64, 0, 1, 0},
};

static const ditc_denoiser tiny_denoiser = {
    .Bp = 1, .B = 2, .Cin = 2, .Cout = 2, .Tx = 1, .Hx = 2, .Wx = 2, .L = 3, .Cc = 2,
    .sampler = "rflow", .steps = 1, .cond_first = 1,
    .off_x = 0, .off_t = 64, .off_out = 320, .off_z = 128, .off_state = 384,
    .n_inputs = 2, .inputs = tiny_inputs,
    .fwd_x = "x", .fwd_t = "timestep", .fwd_text = "y", .fwd_mask = "mask",
};

const ditc_variant tiny_variant = {
    .abi_version = DITC_ABI_VERSION,
    .family = "tiny", .name = "fuzz", .symbol = "tiny", .dtype = "fp32", .inputs_hash = "0", .kind = "denoiser",
    .storage = "fp32", .st_bytes = 4,
    .arena_bytes = 512, .host_bytes = 512,
    .weight_elems = 12, .n_weights = 2, .weights = tiny_weights,
    .n_io = 6, .io = tiny_io,
    .denoiser = &tiny_denoiser,
};

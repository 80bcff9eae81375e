/* inputs.h: a denoiser's input loaders: they validate user files against the variant's denoiser
 * dims and io table and write the arena's io buffers (every check before any copy). Not here:
 * the checkpoint (model.h). */
#ifndef DITC_INPUTS_H
#define DITC_INPUTS_H

#include "model.h"

/* Conditioning file: the variant's inputs (e.g. Open-Sora's text `y` [Bp, 1, L, Cc] and its
 * `mask` [Bp, L] of 0/1; Latte's `prompt_embeds` and `negative_prompt_embeds`). */
ditc_status model_load_cond(ditc_model *m, const char *path, ditc_err *err);
/* The conditioning inputs in memory, one after another in the order of the variant's inputs (a
 * text input [Bp, L, Cc] fp32, a mask [Bp, L] int32): their bytes, and copies from such a block into
 * the arena (a pipeline's text phase made it) and out of it (after model_load_cond). */
int64_t model_cond_bytes(const ditc_variant *v);
int64_t model_cond_input_bytes(const ditc_denoiser *d, const ditc_input_spec *in);
void model_put_cond(ditc_model *m, const unsigned char *src);
void model_get_cond(const ditc_model *m, unsigned char *dst);
/* Initial noise: tensor z0 [Bp, Cin, Tx, Hx, Wx] into the sampler's latent. */
ditc_status model_load_noise(ditc_model *m, const char *path, ditc_err *err);
/* One upstream model call from a fixture (PREFIX + the variant's fwd_* names): model inputs of
 * the whole CFG batch; the text's cond (and uncond) rows become the conditioning inputs. */
ditc_status model_load_forward(ditc_model *m, const char *path, const char *prefix, ditc_err *err);

#endif

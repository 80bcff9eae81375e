/* checkpoint.h: what a --weights argument names, resolved into the safetensors files that hold
 * it, and those files opened as one checkpoint. Accepted: one safetensors file; the index of a
 * sharded checkpoint (transformers' `model.safetensors.index.json`: {"metadata": {...},
 * "weight_map": {"tensor name": "model-00001-of-00002.safetensors", ...}}) with its shards; or a
 * folder holding exactly one of `model.safetensors.index.json`, `model.safetensors` and their
 * diffusers names (`diffusion_pytorch_model.safetensors[.index.json]`). Every shard is opened and
 * validated by st_open; the union of the shards must agree with the index exactly: each tensor in
 * one shard, the shard the index names, and nothing in a shard the index does not list. A shard is
 * a plain file name inside the index's folder (a symbolic link may not lead out of it, except the
 * Hugging Face cache's own `snapshots/REV/NAME -> ../../blobs/HASH`). A PyTorch pickle checkpoint
 * (by its name or its first bytes, when it is no valid safetensors file) is refused with the
 * command that converts it. Every failure is one line naming the file and the field or tensor.
 * Not here: the variant's manifest (model.c), the safetensors format (safetensors.c). */
#ifndef DITC_CHECKPOINT_H
#define DITC_CHECKPOINT_H

#include <stdint.h>

#include "ditc_status.h"
#include "json.h"
#include "outfile.h"
#include "safetensors.h"

#define CKPT_MAX_INDEX (64ull << 20) /* bytes of an index file: ~1M tensors at 64 bytes an entry */
#define CKPT_MAX_SHARDS 4096         /* files one index may name (the largest public models use ~200) */

/* One member of the index's weight_map: a tensor and the shard that holds it. */
typedef struct {
  const char *name; /* into the index's parsed document */
  int shard;        /* into ditc_ckpt.shards */
} ckpt_entry;

typedef struct {
  char *name;          /* what messages call the checkpoint: the index file, or the one safetensors file */
  char *index;         /* the index file read, or NULL (a single safetensors file) */
  int n_shards;
  char **shards;       /* [n_shards] safetensors paths; sorted by file name when an index names them */
  int n_entries;
  ckpt_entry *entries; /* [n_entries] the index's weight_map sorted by name; NULL without an index */
  json_doc doc;        /* the parsed index (entries' names point into it) */
  st_file *files;      /* [n_shards] after ckpt_open */
} ditc_ckpt;

/* Resolves path into c (the index read and checked, every shard found, inside the folder and a
 * regular file); reads no tensor. On failure c is left empty. */
ditc_status ckpt_resolve(ditc_ckpt *c, const char *path, ditc_err *err);
/* Opens every shard (st_open) and checks them against the index. On failure the shards are closed
 * again; ckpt_close still frees c. */
ditc_status ckpt_open(ditc_ckpt *c, ditc_err *err);
/* The tensor named name in the opened checkpoint, or NULL; *shard (if non-NULL) gets its file. */
const st_tensor *ckpt_find(const ditc_ckpt *c, const char *name, int *shard);
void ckpt_close(ditc_ckpt *c);

/* out_check for an output of a run that also reads the checkpoint `weights` (given by
 * weights_flag): every file it resolves to (its index and shards) counts as an input, so an output
 * never replaces a shard. A checkpoint that does not resolve is left to the loader's message. */
ditc_status ckpt_out_check(const char *flag, const char *path, const out_input *inputs, int n_inputs,
                           const char *weights_flag, const char *weights, int64_t bytes, ditc_err *err);

#endif

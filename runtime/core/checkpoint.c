/* checkpoint.c: a --weights argument resolved into safetensors shards and opened as one
 * checkpoint (checkpoint.h): one file, an index and its shards, or a folder holding one of them;
 * PyTorch pickle checkpoints refused with the command that converts them. Every name from a file
 * that a message prints goes through ditc_shown. Not here: the manifest (model.c), the safetensors
 * format (safetensors.c). */
#include "checkpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* name escaped for a message into a DITC_SHOWN_MAX buffer */
#define SHOWN(buf, name) ditc_shown(buf, sizeof buf, name, strlen(name))

enum { CKPT_MAX_TENSORS = 1 << 20 }; /* members of one weight_map (the index's values are bounded by it) */

static ditc_status no_memory(const char *path, ditc_err *err) {
  return ditc_fail(err, DITC_ENOMEM, "%s: out of memory", path);
}

static int ends_with(const char *s, const char *suffix) {
  const size_t n = strlen(s), k = strlen(suffix);
  return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* folder + "/" + name as a new string, or NULL */
static char *join(const char *folder, const char *name) {
  const size_t a = strlen(folder), b = strlen(name);
  char *p = malloc(a + b + 2);
  if (p) {
    memcpy(p, folder, a);
    p[a] = '/';
    memcpy(p + a + 1, name, b + 1);
  }
  return p;
}

/* The folder of path ("." for a bare name) as a new string, or NULL. */
static char *folder_of(const char *path) {
  const char *slash = strrchr(path, '/');
  if (!slash) return strdup(".");
  const size_t n = slash == path ? 1 : (size_t)(slash - path);
  char *d = strndup(path, n);
  return d;
}

static const char *base_of(const char *path) {
  const char *slash = strrchr(path, '/');
  return slash ? slash + 1 : path;
}

static const char *kind_of(mode_t m) {
  if (S_ISDIR(m)) return "a directory";
  if (S_ISFIFO(m)) return "a FIFO";
  if (S_ISCHR(m)) return "a character device";
  if (S_ISBLK(m)) return "a block device";
  if (S_ISSOCK(m)) return "a socket";
  return "not a regular file";
}

/* ---- PyTorch pickle checkpoints ------------------------------------------------------------- */

static const char *const pickle_suffixes[] = {".bin", ".pt", ".pth", ".ckpt"};
/* the file name prefixes of transformers' and diffusers' pickle checkpoints in a folder */
static const char *const pickle_prefixes[] = {"pytorch_model", "diffusion_pytorch_model"};

/* Whether path is named or starts like a torch.save file: a pickle extension, the zip magic
 * PK\3\4 (torch >= 1.6) or a pickle protocol 2..5 opcode (the legacy format). Asked only of a file
 * st_open refused, so a valid safetensors file loads whatever its name or first bytes. */
static int looks_pickled(const char *path) {
  for (size_t i = 0; i < sizeof pickle_suffixes / sizeof *pickle_suffixes; i++)
    if (ends_with(path, pickle_suffixes[i])) return 1;
  const int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return 0;
  unsigned char b[4] = {0};
  struct stat sb;
  const ssize_t n = fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) ? pread(fd, b, sizeof b, 0) : -1;
  close(fd);
  return (n == 4 && memcmp(b, "PK\3\4", 4) == 0) || (n >= 2 && b[0] == 0x80 && b[1] >= 2 && b[1] <= 5);
}

static ditc_status pickle_file(const char *path, ditc_err *err) {
  return ditc_fail(err, DITC_EINVAL,
                   "%s: a PyTorch pickle checkpoint (torch.save), not safetensors; ditc reads safetensors only: "
                   "convert it with python3 -c 'import torch, safetensors.torch as s; s.save_file({k: v.contiguous() "
                   "for k, v in torch.load(\"%s\", map_location=\"cpu\").items()}, \"model.safetensors\")' and pass "
                   "--weights model.safetensors", path, path);
}

/* A folder (or the index of one) whose checkpoint is prefix*.bin pickles. */
static ditc_status pickle_folder(const char *folder, const char *prefix, ditc_err *err) {
  return ditc_fail(err, DITC_EINVAL,
                   "%s: a PyTorch pickle checkpoint (%s*.bin), not safetensors; ditc reads safetensors only: "
                   "convert it with python3 -c 'import glob, torch, safetensors.torch as s; s.save_file({k: "
                   "v.contiguous() for f in sorted(glob.glob(\"%s/%s*.bin\")) for k, v in torch.load(f, "
                   "map_location=\"cpu\").items()}, \"model.safetensors\")' and pass --weights model.safetensors",
                   folder, prefix, folder, prefix);
}

/* ---- files inside the checkpoint's folder ---------------------------------------------------- */

/* Whether the real path target lies in the folder whose real path is root, or, for a folder
 * R/snapshots/REV of the Hugging Face cache, is one of R/blobs/ (the cache's own symlinks). */
static int inside(const char *root, const char *target) {
  const size_t n = strlen(root);
  if (n == 1 && root[0] == '/') return 1;
  if (strncmp(target, root, n) == 0 && target[n] == '/') return 1;
  const char *rev = strrchr(root, '/');
  if (!rev || rev == root) return 0;
  const char *snap = rev - 1;
  while (snap > root && *snap != '/') snap--;
  if (*snap != '/' || rev - snap - 1 != 9 || strncmp(snap + 1, "snapshots", 9) != 0) return 0;
  const size_t r = (size_t)(snap - root); /* R is root[0, r) */
  return strncmp(target, root, r) == 0 && strncmp(target + r, "/blobs/", 7) == 0 && target[r + 7] &&
         !strchr(target + r + 7, '/');
}

/* The path of file `name` inside folder into *out: it exists, a symbolic link does not lead out of
 * the folder, and it is a regular file. Messages read "FROM: WHAT, which ...". */
static ditc_status member_path(const char *from, const char *what, const char *folder, const char *name, char **out,
                               ditc_err *err) {
  char *p = join(folder, name);
  if (!p) return no_memory(from, err);
  struct stat sb;
  ditc_status s = DITC_OK;
  char tb[1024], rb[1024]; /* paths from the file system, escaped like names */
  if (lstat(p, &sb) != 0) {
    s = errno == ENOENT ? ditc_fail(err, DITC_EIO, "%s: %s, which does not exist in %s", from, what, folder)
                        : ditc_fail(err, DITC_EIO, "%s: %s: cannot open it: %s", from, what, strerror(errno));
  } else if (S_ISLNK(sb.st_mode)) {
    char *root = realpath(folder, NULL), *target = realpath(p, NULL);
    if (!target)
      s = ditc_fail(err, DITC_EIO, "%s: %s, a symbolic link that leads nowhere (%s)", from, what, strerror(errno));
    else if (!root)
      s = ditc_fail(err, DITC_EIO, "%s: cannot resolve the folder %s: %s", from, folder, strerror(errno));
    else if (!inside(root, target))
      s = ditc_fail(err, DITC_EINVAL, "%s: %s, a symbolic link to %s, outside the folder %s", from, what,
                    SHOWN(tb, target), SHOWN(rb, root));
    free(root);
    free(target);
  }
  if (!s && stat(p, &sb) != 0) s = ditc_fail(err, DITC_EIO, "%s: %s: cannot open it: %s", from, what, strerror(errno));
  if (!s && !S_ISREG(sb.st_mode))
    s = ditc_fail(err, DITC_EINVAL, "%s: %s, which is %s, not a safetensors file", from, what, kind_of(sb.st_mode));
  if (s) free(p);
  else *out = p;
  return s;
}

/* ---- the index ------------------------------------------------------------------------------- */

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int cmp_entry(const void *a, const void *b) {
  const ckpt_entry *x = a, *y = b;
  const int c = strcmp(x->name, y->name);
  return c ? c : (x->shard > y->shard) - (x->shard < y->shard);
}

/* The whole regular file path (at most CKPT_MAX_INDEX bytes) into *text, *len. */
static ditc_status slurp_index(const char *path, char **text, size_t *len, ditc_err *err) {
  const int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK); /* O_NONBLOCK: a FIFO must not hang */
  if (fd < 0) return ditc_fail(err, DITC_EIO, "%s: cannot open: %s", path, strerror(errno));
  struct stat sb;
  ditc_status s = DITC_OK;
  if (fstat(fd, &sb) != 0) s = ditc_fail(err, DITC_EIO, "%s: cannot stat: %s", path, strerror(errno));
  else if (!S_ISREG(sb.st_mode)) s = ditc_fail(err, DITC_EIO, "%s: not a regular file", path);
  else if ((unsigned long long)sb.st_size > CKPT_MAX_INDEX)
    s = ditc_fail(err, DITC_EINVAL, "%s: an index of %lld bytes, more than the limit of %llu MiB", path,
                  (long long)sb.st_size, CKPT_MAX_INDEX >> 20);
  else if (!(*text = malloc((size_t)sb.st_size + 1))) s = no_memory(path, err);
  for (size_t done = 0; !s && done < (size_t)sb.st_size;) {
    const ssize_t k = pread(fd, *text + done, (size_t)sb.st_size - done, (off_t)done);
    if (k < 0 && errno == EINTR) continue;
    if (k < 0) s = ditc_fail(err, DITC_EIO, "%s: cannot read: %s", path, strerror(errno));
    else if (k == 0) s = ditc_fail(err, DITC_EIO, "%s: changed while being read", path);
    done += k > 0 ? (size_t)k : 0;
  }
  close(fd);
  if (!s) *len = (size_t)sb.st_size;
  return s;
}

/* The shard file names of the weight_map (checked strings), sorted and unique, into *names. */
static ditc_status shard_names(const char *path, const json_value *wm, const char ***names, int *n, ditc_err *err) {
  char kb[DITC_SHOWN_MAX];
  const char **all = malloc((size_t)wm->count * sizeof *all);
  if (!all) return no_memory(path, err);
  for (int i = 0; i < wm->count; i++) {
    const json_str *k = &wm->keys[i];
    const json_value *v = &wm->items[i];
    ditc_status s = DITC_OK;
    if (strlen(k->s) != k->len)
      s = ditc_fail(err, DITC_EINVAL, "%s: weight_map key at byte %zu has a NUL byte", path, k->offset);
    else if (v->kind != JSON_STRING)
      s = ditc_fail(err, DITC_EINVAL, "%s: weight_map['%s'] is not a string (the shard's file name)", path,
                    SHOWN(kb, k->s));
    else if (strlen(v->str.s) != v->str.len)
      s = ditc_fail(err, DITC_EINVAL, "%s: weight_map['%s'] has a NUL byte", path, SHOWN(kb, k->s));
    if (s) {
      free(all);
      return s;
    }
    all[i] = v->str.s;
  }
  qsort(all, (size_t)wm->count, sizeof *all, cmp_str);
  int u = 0;
  for (int i = 0; i < wm->count; i++)
    if (!u || strcmp(all[u - 1], all[i])) all[u++] = all[i];
  if (u > CKPT_MAX_SHARDS) {
    free(all);
    return ditc_fail(err, DITC_EINVAL, "%s: weight_map names %d files, more than the limit of %d shards", path, u,
                     CKPT_MAX_SHARDS);
  }
  *names = all;
  *n = u;
  return DITC_OK;
}

/* A shard file name must be a plain name in the index's folder, printable as it is (messages
 * print shard paths unescaped, like the paths the user gave). */
static ditc_status check_shard_name(const char *path, const char *tensor, const char *name, ditc_err *err) {
  char kb[DITC_SHOWN_MAX], nb[DITC_SHOWN_MAX];
  if (name[0] && !strchr(name, '/') && strcmp(name, ".") && strcmp(name, "..")) {
    SHOWN(nb, name);
    if (strlen(name) < 256 && !strcmp(nb, name)) return DITC_OK;
    return ditc_fail(err, DITC_EINVAL, "%s: weight_map['%s'] names '%s', not a plain file name (control bytes, "
                     "a backslash, invalid UTF-8 or over 255 bytes)", path, SHOWN(kb, tensor), nb);
  }
  return ditc_fail(err, DITC_EINVAL, "%s: weight_map['%s'] names '%s', not a file name in the index's folder "
                   "(shards sit next to their index)", path, SHOWN(kb, tensor), SHOWN(nb, name));
}

/* Reads and checks the index at path: c->entries sorted by name, c->shards found in its folder. */
static ditc_status resolve_index(ditc_ckpt *c, const char *path, ditc_err *err) {
  char *folder = folder_of(path), *text = NULL;
  if (!folder || !(c->index = strdup(path)) || !(c->name = strdup(path))) {
    free(folder);
    return no_memory(path, err);
  }
  size_t len = 0;
  ditc_status s = slurp_index(path, &text, &len, err);
  const size_t max_values = len / 3 + 64 < 2u * CKPT_MAX_TENSORS + 4096 ? len / 3 + 64 : 2u * CKPT_MAX_TENSORS + 4096;
  const json_limits lim = {.max_items = 4096, .max_values = max_values};
  json_error je;
  if (!s && (s = json_parse(text, len, &lim, &c->doc, &je)))
    s = ditc_fail(err, s, "%s: malformed JSON at byte %zu: %s%s", path, je.offset, je.reason,
                  strncmp(je.reason, "more than", 9) ? "" : " (an index lists at most 1048576 tensors)");
  free(text);
  const json_value *root = &c->doc.root, *wm = s ? NULL : json_get(root, "weight_map");
  if (!s && root->kind != JSON_OBJECT)
    s = ditc_fail(err, DITC_EINVAL, "%s: not a JSON object (an index is {\"metadata\": {...}, \"weight_map\": "
                  "{\"tensor\": \"shard file\", ...}})", path);
  else if (!s && !wm)
    s = ditc_fail(err, DITC_EINVAL, "%s: no 'weight_map' (an index is {\"metadata\": {...}, \"weight_map\": "
                  "{\"tensor\": \"shard file\", ...}})", path);
  else if (!s && wm->kind != JSON_OBJECT) s = ditc_fail(err, DITC_EINVAL, "%s: 'weight_map' is not an object", path);
  else if (!s && wm->count == 0) s = ditc_fail(err, DITC_EINVAL, "%s: 'weight_map' is empty", path);
  else if (!s && json_get(root, "metadata") && json_get(root, "metadata")->kind != JSON_OBJECT)
    s = ditc_fail(err, DITC_EINVAL, "%s: 'metadata' is not an object", path);
  const char **names = NULL;
  int n = 0;
  if (!s) s = shard_names(path, wm, &names, &n, err);
  if (!s && !(c->entries = malloc((size_t)wm->count * sizeof *c->entries))) s = no_memory(path, err);
  int *first = s ? NULL : malloc((size_t)n * sizeof *first); /* [n] the first entry naming each shard */
  if (!s && !first) s = no_memory(path, err);
  for (int i = 0; i < n && !s; i++) first[i] = -1;
  for (int i = 0; !s && i < wm->count; i++) {
    const char *file = wm->items[i].str.s, **hit = bsearch(&file, names, (size_t)n, sizeof *names, cmp_str);
    DITC_CHECK(hit != NULL);
    c->entries[i] = (ckpt_entry){wm->keys[i].s, (int)(hit - names)};
    if (first[c->entries[i].shard] < 0) first[c->entries[i].shard] = i;
  }
  if (!s) {
    c->n_entries = wm->count;
    if (!(c->shards = calloc((size_t)n, sizeof *c->shards))) s = no_memory(path, err);
  }
  for (int i = 0; !s && i < n; i++) {
    const char *tensor = wm->keys[first[i]].s;
    char kb[DITC_SHOWN_MAX], nb[DITC_SHOWN_MAX], what[2 * DITC_SHOWN_MAX + 64];
    snprintf(what, sizeof what, "weight_map['%s'] names the shard '%s'", SHOWN(kb, tensor), SHOWN(nb, names[i]));
    if (!(s = check_shard_name(path, tensor, names[i], err))) {
      for (size_t k = 0; k < sizeof pickle_suffixes / sizeof *pickle_suffixes; k++)
        if (ends_with(names[i], pickle_suffixes[k])) {
          char *p = join(folder, names[i]);
          s = p ? pickle_file(p, err) : no_memory(path, err);
          free(p);
          break;
        }
    }
    if (!s) s = member_path(path, what, folder, names[i], &c->shards[i], err);
    if (!s) c->n_shards++;
  }
  if (!s) qsort(c->entries, (size_t)c->n_entries, sizeof *c->entries, cmp_entry);
  free(first);
  free(names);
  free(folder);
  return s;
}

/* ---- resolving ------------------------------------------------------------------------------- */

/* What a folder may hold: exactly one of these (two are ambiguous and refused). */
static const char *const folder_files[] = {"model.safetensors.index.json", "model.safetensors",
                                           "diffusion_pytorch_model.safetensors.index.json",
                                           "diffusion_pytorch_model.safetensors"};

static ditc_status resolve_single(ditc_ckpt *c, char *path, ditc_err *err) { /* takes path */
  c->shards = malloc(sizeof *c->shards);
  if (!c->shards || !(c->name = strdup(path))) {
    free(path);
    return no_memory("--weights", err);
  }
  c->shards[0] = path;
  c->n_shards = 1;
  return DITC_OK;
}

static ditc_status resolve_folder(ditc_ckpt *c, const char *given, ditc_err *err) {
  char *dir = strdup(given);
  if (!dir) return no_memory(given, err);
  for (size_t n = strlen(dir); n > 1 && dir[n - 1] == '/'; n--) dir[n - 1] = 0;
  int found = -1;
  ditc_status s = DITC_OK;
  for (int k = 0; k < 4 && !s; k++) {
    char *p = join(dir, folder_files[k]);
    struct stat sb;
    if (!p) s = no_memory(dir, err);
    else if (lstat(p, &sb) == 0 && found >= 0)
      s = ditc_fail(err, DITC_EINVAL, "%s: holds both %s and %s; name the one to load (--weights %s/%s)", dir,
                    folder_files[found], folder_files[k], dir, folder_files[found]);
    else if (lstat(p, &sb) == 0) found = k;
    free(p);
  }
  for (int k = 0; k < 2 && !s && found < 0; k++) {
    char bin[64], idx[64];
    snprintf(bin, sizeof bin, "%s.bin", pickle_prefixes[k]);
    snprintf(idx, sizeof idx, "%s.bin.index.json", pickle_prefixes[k]);
    char *pb = join(dir, bin), *pi = join(dir, idx);
    struct stat sb;
    if (!pb || !pi) s = no_memory(dir, err);
    else if (lstat(pb, &sb) == 0 || lstat(pi, &sb) == 0) s = pickle_folder(dir, pickle_prefixes[k], err);
    free(pb);
    free(pi);
  }
  if (!s && found < 0)
    s = ditc_fail(err, DITC_EINVAL, "%s: a folder without model.safetensors.index.json or model.safetensors (nor "
                  "their diffusers names): no safetensors checkpoint to load", dir);
  char what[96], *p = NULL;
  if (!s) {
    snprintf(what, sizeof what, "'%s'", folder_files[found]);
    s = member_path(dir, what, dir, folder_files[found], &p, err);
  }
  if (!s && ends_with(p, ".index.json")) {
    s = resolve_index(c, p, err);
    free(p);
  } else if (!s) {
    s = resolve_single(c, p, err); /* takes p */
  }
  free(dir);
  return s;
}

ditc_status ckpt_resolve(ditc_ckpt *c, const char *path, ditc_err *err) {
  memset(c, 0, sizeof *c);
  struct stat sb;
  ditc_status s;
  if (stat(path, &sb) != 0) return ditc_fail(err, DITC_EIO, "%s: cannot open: %s", path, strerror(errno));
  if (S_ISDIR(sb.st_mode)) {
    s = resolve_folder(c, path, err);
  } else if (ends_with(path, ".bin.index.json")) {
    char *folder = folder_of(path), prefix[256];
    snprintf(prefix, sizeof prefix, "%.*s", (int)(strlen(base_of(path)) - strlen(".bin.index.json")), base_of(path));
    s = folder ? pickle_folder(folder, prefix, err) : no_memory(path, err);
    free(folder);
  } else if (ends_with(path, ".index.json")) {
    s = resolve_index(c, path, err);
  } else {
    char *p = strdup(path);
    s = p ? resolve_single(c, p, err) : no_memory(path, err);
  }
  if (s) ckpt_close(c);
  return s;
}

/* ---- opening --------------------------------------------------------------------------------- */

/* The union of the opened shards against the index: no tensor in two shards, each in the shard
 * the index names, every tensor of a shard listed and every listed tensor in its shard. */
static ditc_status check_union(const ditc_ckpt *c, ditc_err *err) {
  size_t total = 0;
  for (int i = 0; i < c->n_shards; i++) total += (size_t)c->files[i].count;
  ckpt_entry *held = malloc((total + 1) * sizeof *held); /* [total] every tensor of every shard */
  if (!held) return no_memory(c->index, err);
  size_t n = 0;
  for (int i = 0; i < c->n_shards; i++)
    for (int k = 0; k < c->files[i].count; k++) held[n++] = (ckpt_entry){c->files[i].tensors[k].name, i};
  qsort(held, n, sizeof *held, cmp_entry);
  char tb[DITC_SHOWN_MAX];
  ditc_status s = DITC_OK;
  for (size_t i = 1; i < n && !s; i++)
    if (!strcmp(held[i - 1].name, held[i].name))
      s = ditc_fail(err, DITC_EINVAL, "%s: tensor '%s' is in two shards, %s and %s (a tensor belongs to one)",
                    c->index, SHOWN(tb, held[i].name), base_of(c->shards[held[i - 1].shard]),
                    base_of(c->shards[held[i].shard]));
  size_t i = 0, j = 0;
  while (!s && (i < n || j < (size_t)c->n_entries)) {
    const int cmp = i == n ? 1 : j == (size_t)c->n_entries ? -1 : strcmp(held[i].name, c->entries[j].name);
    if (cmp < 0)
      s = ditc_fail(err, DITC_EINVAL, "%s: weight_map lacks tensor '%s', which the shard %s holds", c->index,
                    SHOWN(tb, held[i].name), base_of(c->shards[held[i].shard]));
    else if (cmp > 0)
      s = ditc_fail(err, DITC_EINVAL, "%s: weight_map['%s'] names the shard %s, which does not hold it", c->index,
                    SHOWN(tb, c->entries[j].name), base_of(c->shards[c->entries[j].shard]));
    else if (held[i].shard != c->entries[j].shard)
      s = ditc_fail(err, DITC_EINVAL, "%s: weight_map['%s'] names the shard %s, but the tensor is in %s", c->index,
                    SHOWN(tb, held[i].name), base_of(c->shards[c->entries[j].shard]),
                    base_of(c->shards[held[i].shard]));
    i += cmp <= 0;
    j += cmp >= 0;
  }
  free(held);
  return s;
}

ditc_status ckpt_open(ditc_ckpt *c, ditc_err *err) {
  DITC_CHECK(c->n_shards > 0 && !c->files);
  if (!(c->files = calloc((size_t)c->n_shards, sizeof *c->files))) return no_memory(c->name, err);
  ditc_status s = DITC_OK;
  for (int i = 0; i < c->n_shards && !s; i++)
    if ((s = st_open(&c->files[i], c->shards[i], err)) && looks_pickled(c->shards[i])) s = pickle_file(c->shards[i], err);
  if (!s && c->index) s = check_union(c, err);
  if (s) {
    for (int i = 0; i < c->n_shards; i++) st_close(&c->files[i]);
    free(c->files);
    c->files = NULL;
  }
  return s;
}

static int cmp_entry_name(const void *key, const void *e) {
  return strcmp((const char *)key, ((const ckpt_entry *)e)->name);
}

const st_tensor *ckpt_find(const ditc_ckpt *c, const char *name, int *shard) {
  int k = 0;
  if (c->index) {
    const ckpt_entry *e = bsearch(name, c->entries, (size_t)c->n_entries, sizeof *e, cmp_entry_name);
    if (!e) return NULL;
    k = e->shard;
  }
  if (shard) *shard = k;
  return st_find(&c->files[k], name);
}

void ckpt_close(ditc_ckpt *c) {
  for (int i = 0; c->files && i < c->n_shards; i++) st_close(&c->files[i]);
  free(c->files);
  for (int i = 0; c->shards && i < c->n_shards; i++) free(c->shards[i]);
  free(c->shards);
  free(c->entries);
  json_free(&c->doc);
  free(c->index);
  free(c->name);
  memset(c, 0, sizeof *c);
}

/* ---- outputs --------------------------------------------------------------------------------- */

ditc_status ckpt_out_check(const char *flag, const char *path, const out_input *inputs, int n_inputs,
                           const char *weights_flag, const char *weights, int64_t bytes, ditc_err *err) {
  ditc_ckpt c;
  ditc_err ignored;
  if (!weights || ckpt_resolve(&c, weights, &ignored)) return out_check(flag, path, inputs, n_inputs, bytes, err);
  out_input *all = malloc(((size_t)n_inputs + 1 + (size_t)c.n_shards) * sizeof *all);
  if (!all) {
    ckpt_close(&c);
    return ditc_fail(err, DITC_ENOMEM, "%s %s: out of memory", flag, path);
  }
  int n = 0;
  for (int i = 0; i < n_inputs; i++) all[n++] = inputs[i];
  if (c.index) all[n++] = (out_input){weights_flag, c.index};
  for (int i = 0; i < c.n_shards; i++) all[n++] = (out_input){weights_flag, c.shards[i]};
  const ditc_status s = out_check(flag, path, all, n, bytes, err);
  free(all);
  ckpt_close(&c);
  return s;
}

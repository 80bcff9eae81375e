/* piece_trie.c: the vocabulary trie's edges in one open-addressing hash table (see
 * piece_trie.h). Linear probing; the table is never more than half full. */
#include "piece_trie.h"

#include <stdlib.h>

#include "ditc_status.h"

static size_t slot_of(const piece_trie *t, uint64_t key) {
  return (size_t)((key * 0x9E3779B97F4A7C15ull) >> 17) & (t->cap - 1);
}

int piece_trie_init(piece_trie *t, size_t key_bytes) {
  *t = (piece_trie){0};
  if (key_bytes >= (size_t)INT32_MAX / 4) return 0;
  t->max_nodes = (int32_t)key_bytes + 1;
  t->cap = 16;
  while (t->cap < 2 * (size_t)t->max_nodes) t->cap *= 2;
  t->keys = calloc(t->cap, sizeof *t->keys);
  t->child = malloc(t->cap * sizeof *t->child);
  t->n_nodes = 1;
  return t->keys && t->child;
}

void piece_trie_free(piece_trie *t) {
  free(t->keys);
  free(t->child);
  *t = (piece_trie){0};
}

int32_t piece_trie_child(const piece_trie *t, int32_t node, unsigned char b) {
  const uint64_t key = ((uint64_t)node << 8 | b) + 1;
  for (size_t i = slot_of(t, key);; i = (i + 1) & (t->cap - 1)) {
    if (t->keys[i] == key) return t->child[i];
    if (t->keys[i] == 0) return -1;
  }
}

int32_t piece_trie_insert(piece_trie *t, const char *s, size_t n) {
  int32_t node = 0;
  for (size_t k = 0; k < n; k++) {
    const uint64_t key = ((uint64_t)node << 8 | (unsigned char)s[k]) + 1;
    size_t i = slot_of(t, key);
    while (t->keys[i] != 0 && t->keys[i] != key) i = (i + 1) & (t->cap - 1);
    if (t->keys[i] == 0) {
      DITC_CHECK(t->n_nodes < t->max_nodes); /* init was given the keys' total length */
      t->keys[i] = key;
      t->child[i] = t->n_nodes++;
    }
    node = t->child[i];
  }
  return node;
}

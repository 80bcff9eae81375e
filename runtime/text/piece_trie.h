/* piece_trie.h: a byte trie over the vocabulary's strings for common-prefix search (every key
 * that is a prefix of the text at a position, shortest first), as sentencepiece's darts trie
 * and tokenizers' Unigram trie serve the lattice. Nodes are numbered 0 (the root) .. n_nodes-1;
 * an edge (node, byte) -> child lives in one open-addressing hash table, so memory is a fixed
 * ~24 bytes per key byte, sized once from the keys' total length.
 * Not here: what a node means (unigram.c keeps the ids per node). */
#ifndef DITC_TEXT_PIECE_TRIE_H
#define DITC_TEXT_PIECE_TRIE_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
  uint64_t *keys;             /* [cap] (node << 8 | byte) + 1; 0 = empty slot */
  int32_t *child;             /* [cap] */
  size_t cap;                 /* a power of two, at least twice max_nodes */
  int32_t n_nodes, max_nodes;
} piece_trie;

/* Room for keys of key_bytes bytes in all. Returns 0 when out of memory (t stays freeable). */
int piece_trie_init(piece_trie *t, size_t key_bytes);
void piece_trie_free(piece_trie *t);

/* Adds the key s[0..n) and returns its node (n > 0; never fails once initialised for it). */
int32_t piece_trie_insert(piece_trie *t, const char *s, size_t n);

/* The child of node along byte b, or -1. */
int32_t piece_trie_child(const piece_trie *t, int32_t node, unsigned char b);

#endif

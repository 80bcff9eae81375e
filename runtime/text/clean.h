/* clean.h: the caption cleaning of the three VideoSys text-to-video pipelines, in C: upstream's
 * _clean_caption (videosys/pipelines/{open_sora,latte,open_sora_plan}/pipeline_*.py, the same code
 * in all three, from diffusers' DeepFloyd IF pipeline), the non-cleaning path (lower().strip()),
 * and each pipeline's preprocessing of a prompt before tokenization:
 *
 *   opensora-v1.2        " aesthetic score: 6.5." appended unless the prompt holds
 *                        "aesthetic score:" (append_score_to_prompts), then _clean_caption twice
 *                        (what the fixtures call opensora_final; generate() first reads the
 *                        prompt's structure: opensora_prompt_text below)
 *   latte                _clean_caption twice (also for the negative prompt "")
 *   opensora-plan-v1.1   _clean_caption twice
 *
 * Input is any bytes: invalid UTF-8 is decoded as Python's errors="replace" does (one U+FFFD per
 * maximal ill-formed subsequence), since a Python str cannot hold it. Output is valid UTF-8,
 * NUL-terminated and malloc'd (the caller frees it); it may hold NULs only from text_no_clean.
 * Regexes are PCRE2 with Python's meaning of \s \w \d \b, case mapping and NFC are utf8proc; the
 * HTML and ftfy steps are ports (soup.h, ftfy.h). What is not exact: ftfy's mojibake repair is
 * not done (ftfy.h), and soup.h lists its edge cases. Time is linear in the prompt for text
 * without pathological markup; a pattern that exceeds PCRE2's match limit fails with DITC_EINVAL
 * instead of running on.
 * Not here: tokenization, and the prompt's structure that Open-Sora's generate() reads before its
 * preprocessing (opensora_prompt_text, which a whole pipeline calls first). */
#ifndef DITC_TEXT_CLEAN_H
#define DITC_TEXT_CLEAN_H

#include <stddef.h>

#include "ditc_status.h"
#include "text/re.h"
#include "text/soup.h"

enum { CLEAN_N_PATTERNS = 40 };

/* The compiled patterns of one cleaner; owned by the caller, used by one thread at a time. */
typedef struct {
  pyre re[CLEAN_N_PATTERNS];  /* the re.sub steps, in order */
  int n;
  pyre url[4];                /* the URL patterns' parts: https? scheme, www scheme, domain, \b */
  soup_patterns soup;
} text_cleaner;

typedef enum {
  TEXT_PIPELINE_OPENSORA_V12,
  TEXT_PIPELINE_LATTE,
  TEXT_PIPELINE_OPENSORA_PLAN_V11,
} text_pipeline;

ditc_status text_cleaner_init(text_cleaner *c, ditc_err *err);
void text_cleaner_free(text_cleaner *c);

/* _clean_caption applied `times` times (0: the input, decoded) to in[0..len). *out_len may be
 * NULL. Fails with DITC_ENOMEM, or DITC_EINVAL where upstream fails too (markup its HTML parser
 * rejects) or PCRE2's match limit stops a pattern. */
ditc_status text_clean(text_cleaner *c, const char *in, size_t len, int times, char **out, size_t *out_len,
                       ditc_err *err);

/* The pipelines' path without cleaning: str.lower().strip(). */
ditc_status text_no_clean(const char *in, size_t len, char **out, size_t *out_len, ditc_err *err);

/* What the pipeline feeds its tokenizer for the prompt in[0..len) (see the table above). */
ditc_status text_preprocess(text_cleaner *c, text_pipeline p, const char *in, size_t len, char **out,
                            size_t *out_len, ditc_err *err);

/* Open-Sora 1.2's prompt structure (opensora_prompt.c), read by generate() before the
 * preprocessing above: the text it encodes for loop 0 of in[0..len), a part of in (*text,
 * *text_len); DITC_EINVAL, one line, where upstream raises (malformed JSON or loop syntax) or for
 * conditioning ditc does not build (reference images or videos). */
ditc_status opensora_prompt_text(const char *in, size_t len, const char **text, size_t *text_len, ditc_err *err);

/* The pipeline named name ("opensora-v1.2", "latte", "opensora-plan-v1.1"); DITC_EINVAL with the
 * known names otherwise. */
ditc_status text_pipeline_find(const char *name, text_pipeline *p, ditc_err *err);

#endif

/* ftfy.h: ftfy 6.3.1's fix_text with its default configuration, less the mojibake repair.
 * Per line (a segment ends after '\n'), repeated until nothing changes: HTML entities decoded
 * ("auto": not in, nor after, a segment with '<'), C1 controls as Windows-1252, Latin ligatures
 * split, fullwidth/halfwidth forms to their normal width, curly quotes uncurled, line breaks to
 * '\n', ANSI terminal escapes and unwanted control characters removed, then NFC (utf8proc).
 *
 * Not here (the documented approximation): fix_encoding, ftfy's heuristic repair of mojibake
 * (re-encoding as cp1252/latin-1/macroman..., restore_byte_a0, replace_lossy_sequences,
 * decode_inconsistent_utf8). Text without mojibake is unchanged by it, so the result is exact
 * there; a caption that still holds mojibake after lower-casing keeps it here. Nor lone
 * surrogates (fix_surrogates): UTF-8 cannot hold them, the HTML step makes them U+FFFD. */
#ifndef DITC_TEXT_FTFY_H
#define DITC_TEXT_FTFY_H

#include <stddef.h>

#include "ditc_status.h"
#include "text/buf.h"

/* Appends fix_text(s[0..len)) to out (valid UTF-8 in and out). */
ditc_status ftfy_fix_text(tbuf *out, const char *s, size_t len, ditc_err *err);

#endif

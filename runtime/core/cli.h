/* cli.h: what the binaries' command lines share in parsing values. Not here: any flag table
 * (each main's own). */
#ifndef DITC_CLI_H
#define DITC_CLI_H

/* s as a decimal integer in 0..max: digits only (no sign, space or radix prefix); 1 and *out, or 0. */
int cli_u64(const char *s, unsigned long long max, unsigned long long *out);

#endif

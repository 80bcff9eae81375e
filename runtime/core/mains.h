/* mains.h: the command lines a generated binary may run, one per kind of family; core/main.c picks
 * one by the variant it is linked with. Not here: their flags (each main's own file). */
#ifndef DITC_MAINS_H
#define DITC_MAINS_H

/* A denoiser's: sampling, --forward, --bench (denoiser/main.c). */
int denoiser_main(int argc, char **argv);
/* A network's: inputs by the io table's names, outputs by name (network/main.c). */
int network_main(int argc, char **argv);

#endif

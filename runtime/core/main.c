/* main.c: the entry point of every generated binary. A variant with a denoiser part runs the
 * sampler's command line, any other network (a text encoder, ...) the network's, so one compile
 * line builds either. Not here: either command line (mains.h). */
#include "ditc_abi.h"
#include "mains.h"

int main(int argc, char **argv) {
  return ditc_variant_get()->denoiser ? denoiser_main(argc, argv) : network_main(argc, argv);
}

/* comm_no_nccl.c: comm_nccl_create for binaries built without NCCL (the CPU binaries in
 * bin/); the NCCL build of a variant (bin/nccl/...) links comm_nccl.c instead. */
#include "comm.h"

ditc_comm *comm_nccl_create(double timeout_s, ditc_err *err) {
  (void)timeout_s;
  ditc_fail(err, DITC_EINVAL, "--comm nccl: this binary was built without NCCL (use bin/nccl/<family>-<variant>)");
  return NULL;
}

ditc_comm *comm_nccl_split(ditc_comm *world, int color, int key, ditc_err *err) {
  (void)world, (void)color, (void)key;
  ditc_fail(err, DITC_EINVAL, "--comm nccl: this binary was built without NCCL");
  return NULL;
}

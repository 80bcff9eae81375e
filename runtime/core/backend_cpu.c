/* backend_cpu.c: the CPU backend of backend.h: the generated code works on the host arena and
 * weights directly, so there is nothing to attach or copy, and a step is a call. */
#include "backend.h"

static ditc_status cpu_attach(ditc_model *m, ditc_err *err) {
  (void)m, (void)err;
  return DITC_OK;
}
static void cpu_copy(ditc_model *m, int64_t off, size_t bytes) { (void)m, (void)off, (void)bytes; }
static void cpu_step(ditc_model *m, int pattern, const unsigned char *row) {
  (void)pattern;
  m->step(&m->ex, row);
}
static int64_t cpu_device_bytes(ditc_model *m) {
  (void)m;
  return 0;
}
static void cpu_detach(ditc_model *m) { (void)m; }

static const ditc_backend_ops cpu_ops = {"cpu", cpu_attach, cpu_copy, cpu_copy, cpu_step, cpu_device_bytes,
                                         NULL,  NULL,       NULL,     cpu_detach};

const ditc_backend_ops *ditc_backend(void) { return &cpu_ops; }

/* config_check.h: a pipeline part's config.json at run time against the one the binary was
 * generated from (ditc_pipeline_part: its leaves as canonical JSON, the top-level fields it skips,
 * its class names). A user's model folder may hold another size of the same model (a 720p folder
 * for a 480p binary: sizes are not in these files), but not another architecture: a field that
 * differs, is missing, or is new is one line naming the file, the field and both values. Not here:
 * the checkpoint's tensors (model.h: model_check_weights). */
#ifndef DITC_PIPELINE_CONFIG_CHECK_H
#define DITC_PIPELINE_CONFIG_CHECK_H

#include <stdint.h>

#include "ditc_abi.h"
#include "ditc_status.h"
#include "json.h"

/* Reads and parses path (a config.json: a JSON object) into *doc; on failure *doc is empty. */
ditc_status config_read(const char *path, json_doc *doc, ditc_err *err);

/* Checks doc (read from path) against part p, whose role `what` ("the transformer") the messages
 * name. */
ditc_status config_check(const ditc_pipeline_part *p, const json_doc *doc, const char *path, const char *what,
                         ditc_err *err);

/* The integer field key of the object doc, or DITC_EINVAL (naming path) when it is absent or not
 * an integer. */
ditc_status config_int(const json_doc *doc, const char *path, const char *key, int64_t *out, ditc_err *err);

#endif

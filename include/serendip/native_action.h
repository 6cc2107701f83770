/* include/serendip/native_action.h: the C ABI of a native action, for code in any language.
 * SPDX-License-Identifier: Apache-2.0
 *
 * An action is a function an LLM (or any caller of an agent's actions) calls by name with JSON
 * inputs. A native action is compiled code behind this ABI: plain C, so that a library built
 * by another compiler, or in another language, can hand one to serendip (as a ctypes function
 * or in a PyCapsule named SERENDIP_ACTION_CAPSULE whose context is the state). */
#ifndef SERENDIP_NATIVE_ACTION_H
#define SERENDIP_NATIVE_ACTION_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Appends `size` bytes at `data` to the action's answer; call it any number of times. */
typedef void (*serendip_write_fn)(void* sink, const char* data, size_t size);

/* A native action. `inputs` is a JSON object (UTF-8, `inputs_size` bytes, not
 * NUL-terminated). The action writes its answer through `write(sink, ...)` and returns 0 when
 * the answer is its result, as JSON, or any other value when the answer is an error message
 * (UTF-8 text). `state` is the pointer registered with the function (may be NULL).
 * It may be called from any thread, several calls at once, without Python's GIL: it must not
 * call into Python, and a C++ action must not let an exception escape. */
typedef int (*serendip_action_fn)(void* state, const char* inputs, size_t inputs_size,
                                  serendip_write_fn write, void* sink);

/* The name of a PyCapsule that holds a serendip_action_fn; the capsule's context is its state. */
#define SERENDIP_ACTION_CAPSULE "serendip.native_action"

#ifdef __cplusplus
}
#endif

#endif /* SERENDIP_NATIVE_ACTION_H */

// The MongoDB C driver (Debian's libmongoc-dev), plus accessors for the fields of structs that
// Swift imports as opaque pointers (bson_t is declared 128-byte aligned).
#ifndef PARLEY_CMONGOC_SHIM_H
#define PARLEY_CMONGOC_SHIM_H

#include <mongoc/mongoc.h>

/// Room for a `bson_t` the driver initialises (a reply), with its alignment.
static inline size_t parley_bson_size(void) { return sizeof(bson_t); }
static inline size_t parley_bson_alignment(void) { return BSON_ALIGNOF(bson_t); }

/// Room for a `bson_error_t`, with its alignment.
static inline size_t parley_bson_error_size(void) { return sizeof(bson_error_t); }
static inline size_t parley_bson_error_alignment(void) { return BSON_ALIGNOF(bson_error_t); }
static inline uint32_t parley_bson_error_domain(const bson_error_t *error) { return error->domain; }
static inline uint32_t parley_bson_error_code(const bson_error_t *error) { return error->code; }

static inline const char *parley_host_and_port(const mongoc_host_list_t *host) { return host->host_and_port; }
static inline const mongoc_host_list_t *parley_host_next(const mongoc_host_list_t *host) { return host->next; }

static inline uint32_t parley_bson_length(const bson_t *document) { return document->len; }

static inline const char *parley_bson_error_message(const bson_error_t *error) { return error->message; }

/// Room for a `bson_iter_t`, with its alignment (Swift cannot put one on the stack).
static inline size_t parley_bson_iter_size(void) { return sizeof(bson_iter_t); }
static inline size_t parley_bson_iter_alignment(void) { return BSON_ALIGNOF(bson_iter_t); }

/// Whether `bson_iter_next` stopped at the end of its document rather than at an element that
/// did not fit (libbson records where an invalid element starts in `err_off`).
static inline bool parley_bson_iter_is_at_end(const bson_iter_t *iter) { return iter->err_off == 0; }

/// The encoded bytes of the iterator's current value (for types kept as they are), which
/// libbson's iterator has already checked to lie within the document.
static inline const uint8_t *parley_bson_iter_value_bytes(const bson_iter_t *iter, uint32_t *length) {
    *length = iter->next_off - iter->d1;
    return iter->raw + iter->d1;
}

#endif

// Declarations shared by xlacache.go and xlacache.c.
#include <stddef.h>

int gopeft_cache_install(void);
void *gopeft_plugin_compile(void *args);
void *gopeft_compile_client(void *args);
void *gopeft_compile_executable(void *args);
void gopeft_compile_set_executable(void *args, void *loaded);
void gopeft_compile_inputs(void *args, const char **code, size_t *code_size, const char **format,
                           size_t *format_size, const char **options, size_t *options_size);
void gopeft_error_text(void *err, char *buf, size_t len);
void *gopeft_deserialize(void *client, const char *data, size_t size, void **loaded);
void *gopeft_serialize(void *loaded, const char **bytes, size_t *size, void **handle, void **deleter);
void gopeft_serialized_free(void *handle, void *deleter);

//go:build cgo && linux

// The executable cache's C half (xlacache.go says why it exists). It finds
// the PJRT plugin the XLA backend loaded, swaps the plugin's
// PJRT_Client_Compile entry for gopeft_compile, and offers the three PJRT
// calls the Go half needs: the plugin's own compile, serialize and
// deserialize-and-load. Only the few fields used are declared: the PJRT C
// API is ABI-stable (fields are only ever appended), so their offsets hold
// for any plugin whose PJRT_Api is large enough, which install checks.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <link.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "xlacache.h"
#include "_cgo_export.h"

// Every PJRT argument struct starts with these two fields.
typedef struct {
	size_t struct_size;
	void *extension_start;
} args_head;

typedef struct {
	args_head h;
	void *error;
} error_destroy_args;

typedef struct {
	args_head h;
	const void *error;
	const char *message;
	size_t message_size;
} error_message_args;

typedef struct {
	args_head h;
	void *client;
	const char *serialized;
	size_t serialized_size;
	void *loaded_executable;
	const char *overridden_compile_options;
	size_t overridden_compile_options_size;
} deserialize_args;

typedef struct {
	args_head h;
	void *loaded_executable;
	void *executable;
} get_executable_args;

typedef struct {
	args_head h;
	void *executable;
} executable_destroy_args;

typedef struct {
	args_head h;
	const void *executable;
	const char *bytes;
	size_t bytes_size;
	void *serialized;
	void (*deleter)(void *);
} serialize_args;

typedef void *(*pjrt_call)(void *args);

// Positions of the entries used among PJRT_Api's function pointers, which
// follow struct_size, extension_start and the 24-byte PJRT_Api_Version.
enum {
	api_functions_offset = 40,
	fn_error_destroy = 0,
	fn_error_message = 1,
	fn_client_compile = 20,
	fn_executable_destroy = 40,
	fn_executable_serialize = 49,
	fn_loaded_executable_get_executable = 51,
	fn_executable_deserialize_and_load = 56,
};

static pjrt_call *api_fns;
static pjrt_call plugin_compile;

static pjrt_call fn(int i) { return api_fns[i]; }

// Finds a loaded shared object exporting GetPjrtApi: go-xla opened the
// plugin RTLD_LOCAL, so its symbols are reachable only through its own handle.
static int find_plugin(struct dl_phdr_info *info, size_t size, void *data) {
	(void)size;
	if (info->dlpi_name == NULL || info->dlpi_name[0] == 0) {
		return 0;
	}
	void *h = dlopen(info->dlpi_name, RTLD_LAZY | RTLD_NOLOAD);
	if (h == NULL) {
		return 0;
	}
	void *sym = dlsym(h, "GetPjrtApi");
	dlclose(h); // drops only the reference RTLD_NOLOAD added
	if (sym == NULL) {
		return 0;
	}
	*(void **)data = sym;
	return 1;
}

static void *gopeft_compile(void *args) { return gopeftCompile(args); }

int gopeft_cache_install(void) {
	if (api_fns != NULL) {
		return 0;
	}
	void *get_api = NULL;
	dl_iterate_phdr(find_plugin, &get_api);
	if (get_api == NULL) {
		return 1;
	}
	char *api = (char *)((void *(*)(void))get_api)();
	if (api == NULL) {
		return 2;
	}
	size_t need = api_functions_offset + sizeof(pjrt_call) * (fn_executable_deserialize_and_load + 1);
	if (*(size_t *)api < need) {
		return 3; // a plugin older than executable serialisation
	}
	pjrt_call *fns = (pjrt_call *)(api + api_functions_offset);
	// The table is a static the plugin filled in at run time; make sure its
	// page is writable before swapping one entry.
	long page = sysconf(_SC_PAGESIZE);
	uintptr_t start = (uintptr_t)&fns[fn_client_compile] & ~(uintptr_t)(page - 1);
	if (mprotect((void *)start, (size_t)page, PROT_READ | PROT_WRITE) != 0) {
		return 4;
	}
	plugin_compile = fns[fn_client_compile];
	api_fns = fns;
	fns[fn_client_compile] = gopeft_compile;
	return 0;
}

void *gopeft_plugin_compile(void *args) { return plugin_compile(args); }

// The compile arguments' client, as PJRT_Client_Compile_Args lays it out.
void *gopeft_compile_client(void *args) { return ((void **)args)[2]; }

void gopeft_compile_set_executable(void *args, void *loaded) { ((void **)args)[6] = loaded; }

void *gopeft_compile_executable(void *args) { return ((void **)args)[6]; }

// The program: PJRT_Client_Compile_Args.program -> PJRT_Program's code and format.
void gopeft_compile_inputs(void *args, const char **code, size_t *code_size, const char **format,
                           size_t *format_size, const char **options, size_t *options_size) {
	void **a = (void **)args;
	void **program = (void **)a[3];
	*code = (const char *)program[2];
	*code_size = (size_t)program[3];
	*format = (const char *)program[4];
	*format_size = (size_t)program[5];
	*options = (const char *)a[4];
	*options_size = (size_t)a[5];
}

// error_text copies an error's message into buf and destroys the error.
void gopeft_error_text(void *err, char *buf, size_t len) {
	error_message_args m = {{sizeof m, NULL}, err, NULL, 0};
	fn(fn_error_message)(&m);
	size_t n = m.message_size < len - 1 ? m.message_size : len - 1;
	memcpy(buf, m.message, n);
	buf[n] = 0;
	error_destroy_args d = {{sizeof d, NULL}, err};
	fn(fn_error_destroy)(&d);
}

void *gopeft_deserialize(void *client, const char *data, size_t size, void **loaded) {
	deserialize_args a;
	memset(&a, 0, sizeof a);
	a.h.struct_size = sizeof a;
	a.client = client;
	a.serialized = data;
	a.serialized_size = size;
	void *err = fn(fn_executable_deserialize_and_load)(&a);
	*loaded = a.loaded_executable;
	return err;
}

// gopeft_serialize returns the loaded executable's bytes; release with
// gopeft_serialized_free(*handle, deleter).
void *gopeft_serialize(void *loaded, const char **bytes, size_t *size, void **handle, void **deleter) {
	get_executable_args g = {{sizeof g, NULL}, loaded, NULL};
	void *err = fn(fn_loaded_executable_get_executable)(&g);
	if (err != NULL) {
		return err;
	}
	serialize_args s;
	memset(&s, 0, sizeof s);
	s.h.struct_size = sizeof s;
	s.executable = g.executable;
	err = fn(fn_executable_serialize)(&s);
	executable_destroy_args d = {{sizeof d, NULL}, g.executable};
	void *derr = fn(fn_executable_destroy)(&d);
	if (err == NULL) {
		err = derr;
	} else if (derr != NULL) {
		error_destroy_args e = {{sizeof e, NULL}, derr};
		fn(fn_error_destroy)(&e);
	}
	*bytes = s.bytes;
	*size = s.bytes_size;
	*handle = s.serialized;
	*deleter = (void *)s.deleter;
	return err;
}

void gopeft_serialized_free(void *handle, void *deleter) {
	if (deleter != NULL && handle != NULL) {
		((void (*)(void *))deleter)(handle);
	}
}

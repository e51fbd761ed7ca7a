// The process entry point of `parley-fuzz`.
//
// SwiftPM links an ELF executable with `--defsym main=<module>_main`, so that tests can import
// executables; under `-parse-as-library` (which libFuzzer needs, as it brings its own `main`)
// Swift never emits that symbol and the link fails. Defining it here, and handing control to
// libFuzzer's documented driver entry point, keeps the build a plain `swift build`.
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int parley_fuzz_main(int argc, char **argv) {
    return LLVMFuzzerRunDriver(&argc, &argv, LLVMFuzzerTestOneInput);
}

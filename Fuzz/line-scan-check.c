// Checks mt_line_scan_string (Sources/CMTLineScan/shim.h) against a byte loop; see README.md.
#include "shim.h"
#include <stdio.h>

static uint64_t state = 88172645463325252ull;
static uint64_t next(void) { state ^= state << 13; state ^= state >> 7; state ^= state << 17; return state; }

static long reference(const uint8_t *bytes, size_t available) {
    for (size_t i = 0; i < available; i++) {
        if (bytes[i] == '"') return (long)i;
        if (bytes[i] == '\\' || bytes[i] < 0x20 || bytes[i] >= 0x80) return -1;
    }
    return -1;
}

int main(void) {
    static const uint8_t interesting[] = {'"', '\\', 0, 0x1f, 0x20, 0x21, 0x7f, 0x80, 0xff, 'a', 0xa2, 0xdc, '"', '"'};
    uint8_t line[128];
    long failures = 0, checks = 0, quotes = 0;
    for (int round = 0; round < 4000000; round++) {
        for (int i = 0; i < 128; i++) line[i] = 0x20 + next() % 95;
        for (int i = 0; i < 128; i++) if (line[i] == '"' || line[i] == '\\') line[i] = 'q';
        for (int n = next() % 3; n > 0; n--) line[next() % 128] = interesting[next() % sizeof interesting];
        size_t start = next() % 64, available = next() % (128 - start + 1);
        long expected = reference(line + start, available), found = mt_line_scan_string(line + start, available);
        checks++;
        if (expected >= 0) quotes++;
        if (expected != found && ++failures < 5) printf("start %zu available %zu: %ld, expected %ld\n", start, available, found, expected);
    }
    printf("%s: %ld checks (%ld with a quote), %ld failures\n",
#if MT_LINE_SCAN_SSE2
           "sse2",
#elif MT_LINE_SCAN_NEON
           "neon",
#else
           "bytes",
#endif
           checks, quotes, failures);
    return failures != 0;
}

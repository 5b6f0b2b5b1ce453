#pragma once
// The end of a JSON string in an event-log line, 16 bytes at a time, for the line decoder's
// fast path (Sources/EventLog/EventLineDecoder+CleanLines.swift). Header-only `static
// inline` functions, so that they inline into Swift: SSE2 on x86_64 (its baseline), NEON on
// arm64, a byte loop elsewhere.
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) && defined(__SSE2__)
#include <emmintrin.h>
#define MT_LINE_SCAN_SSE2 1
#elif defined(__aarch64__) && defined(__ARM_NEON)
#include <arm_neon.h>
#define MT_LINE_SCAN_NEON 1
#endif

/// Within the 16 bytes at `bytes`: the offset of the first byte that is a quote ('"') or a
/// byte a plain JSON string cannot hold as it is (a backslash, a control byte below 0x20, a
/// byte that is not ASCII), 16 when there is none; `*quote` says whether that byte is a quote.
__attribute__((always_inline)) static inline int mt_line_scan_16(const uint8_t *bytes, int *quote) {
#if MT_LINE_SCAN_SSE2
    __m128i chunk = _mm_loadu_si128((const __m128i *)bytes);
    // A signed compare: bytes 0x80 and above are negative, so below 0x20 as well.
    __m128i odd = _mm_or_si128(_mm_cmpeq_epi8(chunk, _mm_set1_epi8('\\')), _mm_cmplt_epi8(chunk, _mm_set1_epi8(0x20)));
    unsigned quotes = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(chunk, _mm_set1_epi8('"')));
    unsigned any = quotes | (unsigned)_mm_movemask_epi8(odd) | 0x10000u;
    int first = __builtin_ctz(any);
    *quote = (int)((quotes >> first) & 1);
    return first;
#elif MT_LINE_SCAN_NEON
    // NEON has no movemask: narrowing each 16-bit lane by 4 bits leaves 4 bits per byte.
    uint8x16_t chunk = vld1q_u8(bytes);
    uint8x16_t quotes = vceqq_u8(chunk, vdupq_n_u8('"'));
    uint8x16_t odd = vorrq_u8(vorrq_u8(vceqq_u8(chunk, vdupq_n_u8('\\')), vcltq_u8(chunk, vdupq_n_u8(0x20))),
                              vcgeq_u8(chunk, vdupq_n_u8(0x80)));
    uint64_t quote_bits = vget_lane_u64(vreinterpret_u64_u8(vshrn_n_u16(vreinterpretq_u16_u8(quotes), 4)), 0);
    uint64_t odd_bits = vget_lane_u64(vreinterpret_u64_u8(vshrn_n_u16(vreinterpretq_u16_u8(odd), 4)), 0);
    uint64_t any = quote_bits | odd_bits;
    if (any == 0) {
        *quote = 0;
        return 16;
    }
    int first = __builtin_ctzll(any) >> 2;
    *quote = (int)((quote_bits >> (4 * first)) & 1);
    return first;
#else
    for (int index = 0; index < 16; index++) {
        uint8_t byte = bytes[index];
        if (byte == '"' || byte == '\\' || byte < 0x20 || byte >= 0x80) {
            *quote = byte == '"';
            return index;
        }
    }
    *quote = 0;
    return 16;
#endif
}

/// The offset of the quote that ends a string whose bytes start at `bytes`, with
/// `available` bytes of the line from there; -1 when a backslash, a control byte or a
/// non-ASCII byte comes first, or no quote does. Nothing after the line is read: its last
/// bytes, fewer than 16, are copied into a block of spaces.
__attribute__((always_inline)) static inline long mt_line_scan_string(const uint8_t *bytes, size_t available) {
    size_t offset = 0;
    int quote;
    for (; offset + 16 <= available; offset += 16) {
        int first = mt_line_scan_16(bytes + offset, &quote);
        if (first < 16) return quote ? (long)(offset + first) : -1;
    }
    if (offset < available) {
        uint8_t block[16];
        memset(block, ' ', sizeof block);
        memcpy(block, bytes + offset, available - offset);
        int first = mt_line_scan_16(block, &quote);
        if (first < 16 && quote) return (long)(offset + first);
    }
    return -1;
}

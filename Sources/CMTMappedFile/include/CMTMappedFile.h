#pragma once
// Read-only windows of a regular file that a shrinking file cannot crash (see mapped_file.c),
// for the auditor's event reader (Sources/Auditor/Replay/EventFileReader.swift).
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct {
    const uint8_t *bytes;
    size_t length;
    int slot;
} mt_mapped_window;

/// Maps `length` bytes of `descriptor` from `offset` (a multiple of the page size) read-only,
/// with sequential read-ahead (faulting pages in up front measured no faster).
/// Returns 0, or an errno value and maps nothing (ENOSPC: too many windows open at once).
int mt_mapped_window_open(mt_mapped_window *window, int descriptor, off_t offset, size_t length);

/// Whether a read of the window met a page its file no longer holds: the file shrank, and
/// the window reads zeros from that page to its end.
int mt_mapped_window_faulted(const mt_mapped_window *window);

void mt_mapped_window_close(mt_mapped_window *window);

size_t mt_page_size(void);

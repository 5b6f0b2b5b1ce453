#define _GNU_SOURCE
#include "CMTMappedFile.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <unistd.h>

// Reading a mapped page that the file no longer holds (it was truncated after it was
// mapped) raises SIGBUS, which would end the program. The handler below knows the windows
// opened here: for a fault inside one it maps zero pages over the rest of that window and
// marks it; the faulting read is retried and reads zeros, and the reader, seeing the mark,
// reads on with read(2). Any other SIGBUS goes to the disposition that was in place before.

enum { window_slots = 64 };

static _Atomic uintptr_t window_start[window_slots];
static _Atomic uintptr_t window_end[window_slots];
static atomic_int window_used[window_slots];
static atomic_int window_faulted[window_slots];

static struct sigaction previous_action;
static pthread_once_t install_once = PTHREAD_ONCE_INIT;
static int installed;
static size_t page_size;

static void on_sigbus(int signal_number, siginfo_t *info, void *context) {
    uintptr_t address = (uintptr_t)info->si_addr;
    for (int slot = 0; slot < window_slots; slot++) {
        uintptr_t start = atomic_load(&window_start[slot]);
        if (start == 0 || address < start) continue;
        uintptr_t end = atomic_load(&window_end[slot]);
        if (address >= end) continue;
        uintptr_t page = address & ~(uintptr_t)(page_size - 1);
        if (mmap((void *)page, end - page, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED) break;
        atomic_store(&window_faulted[slot], 1);
        return;
    }
    if (previous_action.sa_flags & SA_SIGINFO) {
        previous_action.sa_sigaction(signal_number, info, context);
    } else if (previous_action.sa_handler != SIG_DFL && previous_action.sa_handler != SIG_IGN) {
        previous_action.sa_handler(signal_number);
    } else {
        // The default action, restored: the read, retried on return, ends the program as
        // it would have without this handler.
        struct sigaction action = {0};
        action.sa_handler = SIG_DFL;
        sigemptyset(&action.sa_mask);
        sigaction(SIGBUS, &action, NULL);
    }
}

static void install(void) {
    long size = sysconf(_SC_PAGESIZE);
    if (size <= 0) return;
    page_size = (size_t)size;
    struct sigaction action = {0};
    action.sa_sigaction = on_sigbus;
    action.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&action.sa_mask);
    installed = sigaction(SIGBUS, &action, &previous_action) == 0;
}

size_t mt_page_size(void) {
    pthread_once(&install_once, install);
    return page_size;
}

int mt_mapped_window_open(mt_mapped_window *window, int descriptor, off_t offset, size_t length) {
    window->bytes = NULL;
    window->length = 0;
    window->slot = -1;
    pthread_once(&install_once, install);
    if (!installed) return ENOTSUP;
    if (length == 0) return EINVAL;
    int slot = -1;
    for (int candidate = 0; candidate < window_slots && slot < 0; candidate++) {
        int expected = 0;
        if (atomic_compare_exchange_strong(&window_used[candidate], &expected, 1)) slot = candidate;
    }
    if (slot < 0) return ENOSPC;
    void *bytes = mmap(NULL, length, PROT_READ, MAP_PRIVATE, descriptor, offset);
    if (bytes == MAP_FAILED) {
        int error = errno;
        atomic_store(&window_used[slot], 0);
        return error;
    }
    (void)madvise(bytes, length, MADV_SEQUENTIAL);
    atomic_store(&window_faulted[slot], 0);
    // The end before the start: the handler takes a slot with a start as complete.
    atomic_store(&window_end[slot], (uintptr_t)bytes + length);
    atomic_store(&window_start[slot], (uintptr_t)bytes);
    window->bytes = bytes;
    window->length = length;
    window->slot = slot;
    return 0;
}

int mt_mapped_window_faulted(const mt_mapped_window *window) {
    return window->slot >= 0 && atomic_load(&window_faulted[window->slot]);
}

void mt_mapped_window_close(mt_mapped_window *window) {
    if (window->bytes == NULL) return;
    atomic_store(&window_start[window->slot], 0);
    munmap((void *)window->bytes, window->length);
    atomic_store(&window_faulted[window->slot], 0);
    atomic_store(&window_used[window->slot], 0);
    window->bytes = NULL;
    window->length = 0;
    window->slot = -1;
}

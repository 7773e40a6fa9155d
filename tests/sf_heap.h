/* sf_heap.h — the heap in use, for the tests that bound memory: glibc's
 * mallinfo2() (uordblks + hblkhd, every arena), or the sanitizer allocator's
 * count under ASan or TSan. */
#ifndef SF_HEAP_H
#define SF_HEAP_H

#include <malloc.h>
#include <stddef.h>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
/* the sanitizer runtime's (declared here: GCC ships no sanitizer/allocator_interface.h) */
size_t __sanitizer_get_current_allocated_bytes(void);
static inline size_t heap_now(void) { return __sanitizer_get_current_allocated_bytes(); }
#else
static inline size_t heap_now(void)
{
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
}
#endif

#endif

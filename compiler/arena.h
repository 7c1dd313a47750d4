/* arena.h — bump allocator owning every object of one compilation.
 *
 * The compiler allocates its AST, graph and plans from one arena and frees it in one
 * call, so an error can unwind (longjmp, see diag.h) from any depth without leaks. */
#ifndef GRADC_ARENA_H
#define GRADC_ARENA_H
#include <stddef.h>

typedef struct Arena Arena;

Arena *arena_new(void); /* NULL when out of memory */
void arena_free(Arena *a);
/* When memory runs out, arena_alloc calls fail(ctx), which must not return (the
 * compiler passes diag_out_of_memory: an error through the Diag's longjmp); without
 * it, or if it returns, arena_alloc aborts. */
void arena_on_fail(Arena *a, void (*fail)(void *ctx), void *ctx);
void *arena_alloc(Arena *a, size_t n); /* zeroed, 16-byte aligned */
char *arena_strdup(Arena *a, const char *s);
char *arena_strndup(Arena *a, const char *s, size_t n);
char *arena_printf(Arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define ARENA_NEW(a, T) ((T *)arena_alloc((a), sizeof(T)))
#define ARENA_ARRAY(a, T, n) ((T *)arena_alloc((a), sizeof(T) * (size_t)(n)))

#endif

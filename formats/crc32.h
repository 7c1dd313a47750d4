/* formats/crc32.h — internal to gradc_formats: CRC-32 (IEEE 802.3, as zlib's crc32:
 * reflected polynomial 0xEDB88320, initial and final xor ~0), the checksum of a
 * safetensors file's data section (st_write.c writes it, st_read.c checks it).
 * Header-only: two small functions. */
#ifndef GRADC_FORMATS_CRC32_H
#define GRADC_FORMATS_CRC32_H
#include <stddef.h>
#include <stdint.h>

typedef struct {
  uint32_t t[256];
} crc_table;

static inline void crc_table_init(crc_table *tab) { /* ~2k operations: per call, no shared state */
  for (uint32_t i = 0; i < 256; i++) {
    uint32_t c = i;
    for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    tab->t[i] = c;
  }
}

/* Continues crc (start with 0) over n bytes. */
static inline uint32_t crc32_update(const crc_table *tab, uint32_t crc, const void *p, size_t n) {
  const unsigned char *b = p;
  crc = ~crc;
  for (size_t i = 0; i < n; i++) crc = tab->t[(crc ^ b[i]) & 0xFFu] ^ (crc >> 8);
  return ~crc;
}

#endif

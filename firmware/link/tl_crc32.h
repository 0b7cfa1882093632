/* CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320), as used by the tinyodl link. */
#ifndef TL_CRC32_H
#define TL_CRC32_H

#include <stddef.h>
#include <stdint.h>

/* Continues a CRC-32 over `len` bytes. Start with crc = 0; feeding the result of one call into the
 * next gives the same value as one call over the concatenated data (like Python's zlib.crc32). */
uint32_t tl_crc32(uint32_t crc, const uint8_t *data, size_t len);

#endif /* TL_CRC32_H */

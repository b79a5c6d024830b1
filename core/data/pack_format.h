/* SPDX-License-Identifier: MIT */
/* The layout of a packed dataset file (docs/pack-format.md), shared by its
 * writer (pack_write.c) and reader (pack_read.c). All integers are
 * little-endian.
 *
 *   head      64 bytes: PACK_MAGIC, version, kind, count, channels,
 *             height, width, class count, names_bytes, records_offset, 0
 *   names     class count x (u32 length, that many bytes), names_bytes
 *   labels    count x u32
 *   padding   zeros up to records_offset (a multiple of 64)
 *   records   raw: count x channels*height*width bytes, CHW uint8;
 *             encoded: the PNG or JPEG files' bytes, back to back
 *   offsets   encoded only: count + 1 x u64, record i is
 *             [offsets[i], offsets[i+1]) of the records
 *   footer    24 bytes: u64 records_bytes, u32 CRC-32 (zlib's) of every
 *             byte before it and of records_bytes, u32 0, PACK_END_MAGIC
 *
 * Only the sizes of the records are unknown until they are written, so the
 * writer appends from start to end (an atomic file has no seek) and the
 * reader finds records_bytes in the footer. */
#ifndef CNN_CORE_DATA_PACK_FORMAT_H
#define CNN_CORE_DATA_PACK_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#define PACK_MAGIC "CNNPACK\0"
#define PACK_END_MAGIC "CNNPEND\0"
#define PACK_MAGIC_BYTES 8
#define PACK_VERSION 1
#define PACK_HEAD_BYTES 64
#define PACK_FOOTER_BYTES 24
/* The CRC covers everything up to and including the footer's
 * records_bytes. */
#define PACK_FOOTER_CRC_AT 8
#define PACK_RECORDS_ALIGN 64

/* Head field offsets. */
#define PACK_AT_VERSION 8
#define PACK_AT_KIND 12
#define PACK_AT_COUNT 16
#define PACK_AT_CHANNELS 24
#define PACK_AT_HEIGHT 28
#define PACK_AT_WIDTH 32
#define PACK_AT_CLASSES 36
#define PACK_AT_NAMES_BYTES 40
#define PACK_AT_RECORDS_OFFSET 48
#define PACK_AT_RESERVED 56

#define PACK_KIND_RAW 1
#define PACK_KIND_ENCODED 2

/* Limits on what a file may declare. */
#define PACK_MAX_CLASS_NAME 4096
#define PACK_MAX_CLASSES ((uint32_t)1 << 24)

static inline void pack_put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline void pack_put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint32_t pack_get_u32(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static inline uint64_t pack_get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

#endif

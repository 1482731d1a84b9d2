/*
 * fuzz-proto.c: libFuzzer target for the frame decoders
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <config.h>

#include <stdlib.h>
#include <string.h>

#include "viropenhookproto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data,
                       size_t size)
{
    virOpenHookRequest req;
    virOpenHookMsgHelloReply hello;
    virOpenHookMsgOpenReply open;
    char *copy;

    /* An exact-size heap copy, so ASan sees any read past the datagram. */
    copy = g_malloc(size ? size : 1);
    memcpy(copy, data, size);

    if (virOpenHookProtoDecodeRequest(copy, size, &req) == VIR_OPENHOOK_PROTO_OK) {
        char buf[VIR_OPENHOOK_MAX_MSG];
        size_t len = 0;

        /* What decodes must re-encode to the same bytes. */
        switch (req.type) {
        case VIR_OPENHOOK_MSG_OPEN:
            if (req.path_len == 0 || req.path_len > VIR_OPENHOOK_MAX_PATH ||
                memchr(req.path, '\0', req.path_len))
                abort();
            len = virOpenHookProtoEncodeOpen(buf, req.id, req.flags, req.mode,
                                             req.path, req.path_len);
            break;
        case VIR_OPENHOOK_MSG_HELLO:
            len = virOpenHookProtoEncodeHello(buf, req.version, req.flags);
            break;
        case VIR_OPENHOOK_MSG_CLOSE:
            len = virOpenHookProtoEncodeClose(buf, req.handle);
            break;
        }
        if (len != size || memcmp(buf, copy, size) != 0)
            abort();
    }
    virOpenHookProtoDecodeHelloReply(copy, size, &hello);
    virOpenHookProtoDecodeOpenReply(copy, size, &open);
    g_free(copy);
    return 0;
}

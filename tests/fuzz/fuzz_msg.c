/* libFuzzer target for the signaling parser: any bytes, both directions. A frame that parses must
 * also serialize, and the serialized form must parse again to the same type (no crash, no leak, no
 * message the server would accept but could not forward). */
#include "tv_err.h"
#include "tv_msg.h"

#include <stdint.h>
#include <stdlib.h>

static char out[TV_MSG_MAX_BYTES + 1];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    for (int origin = 0; origin < 2; origin++) {
        tv_msg m;
        if (tv_msg_parse((const char *)data, size, (tv_msg_origin)origin, &m) != 0) {
            if (m.json != NULL)
                abort();   /* a failed parse must not hand back a tree */
            continue;
        }
        size_t n;
        if (tv_msg_serialize(&m, out, sizeof out, &n) != 0)
            abort();
        tv_msg again;
        if (tv_msg_parse(out, n, (tv_msg_origin)origin, &again) != 0 || again.type != m.type)
            abort();
        tv_msg_free(&again);
        /* Whatever a browser may send of a relayed type, the server can forward. */
        if (origin == TV_MSG_FROM_CLIENT) {
            int relayed = tv_msg_relayed(m.type);
            static const char from[] = "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff";
            int rc = tv_msg_relay(&m, from, sizeof from - 1, 9007199254740991LL);
            if (relayed && (rc != 0 || tv_msg_serialize(&m, out, sizeof out, &n) != 0))
                abort();
        }
        tv_msg_free(&m);
    }
    return 0;
}

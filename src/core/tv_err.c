#include "tv_err.h"

const char *tv_err_name(int err)
{
    switch (err) {
    case TV_OK: return "ok";
#define TV_ERR_CASE_(name, value, str) case name: return str;
    TV_ERR_LIST(TV_ERR_CASE_)
#undef TV_ERR_CASE_
    default: return "unknown_error";
    }
}

/* A shared object that is not an mmrun plugin: no mm_plugin_entry. */
#include "mm/plugin.h"

MM_PLUGIN_EXPORT int some_other_symbol(void)
{
    return 42;
}

/* The chat page served at GET / (src/server/chat_page.html), embedded in the
 * binary by page.c. cs_chat_page holds cs_chat_page_len bytes of UTF-8 HTML,
 * followed by one NUL byte that the length does not count. */
#ifndef CSEEK_SERVER_PAGE_H
#define CSEEK_SERVER_PAGE_H

#include <stddef.h>

extern const unsigned char cs_chat_page[];
extern const size_t cs_chat_page_len;

#endif

/* Embeds src/server/chat_page.html in the binary with the GNU assembler's
 * .incbin (gcc or clang, ELF targets). The path is relative to the directory
 * make runs in, the repository root; the Makefile rebuilds page.o when the page
 * changes. */
#include "page.h"

#include <stdint.h>

#if SIZE_MAX > 0xffffffffu
#define CS_PAGE_SIZE_DIRECTIVE ".quad"
#define CS_PAGE_SIZE_ALIGN "8"
#else
#define CS_PAGE_SIZE_DIRECTIVE ".long"
#define CS_PAGE_SIZE_ALIGN "4"
#endif

_Static_assert(sizeof(size_t) == sizeof(uintptr_t), "cs_chat_page_len is written as one address-sized word");

__asm__(".pushsection .rodata\n"
        ".global cs_chat_page\n"
        ".type cs_chat_page, %object\n"
        ".balign 16\n"
        "cs_chat_page:\n"
        ".incbin \"src/server/chat_page.html\"\n"
        "cs_chat_page_end:\n"
        ".byte 0\n"
        ".size cs_chat_page, . - cs_chat_page\n"
        ".global cs_chat_page_len\n"
        ".type cs_chat_page_len, %object\n"
        ".balign " CS_PAGE_SIZE_ALIGN "\n"
        "cs_chat_page_len:\n" CS_PAGE_SIZE_DIRECTIVE " cs_chat_page_end - cs_chat_page\n"
        ".size cs_chat_page_len, " CS_PAGE_SIZE_ALIGN "\n"
        ".popsection\n");

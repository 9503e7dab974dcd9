// native/limits.h — the addon's input limits: the one table every native check reads.
//
// Layer: native/ (bottom; docs/ARCHITECTURE.md, Layers). The rules users meet are the
// TypeScript ones (src/validate/kernel.ts); the addon's checks (rtnl_validate.cc) are a
// last guard against a caller that skipped them. Names match the TypeScript constants, and
// test/unit/native-limits.test.ts reads this file as text and compares each value, so the
// two copies cannot drift: keep every constant on one line, `constexpr TYPE NAME = VALUE;`.
#pragma once
#include <linux/if.h>

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace ctn::limits {

// Interface names, as the kernel's dev_valid_name() accepts them: 1..IFNAMSIZ-1 bytes
// (IFNAMSIZ counts the NUL), not a reserved name, none of the forbidden characters, no
// whitespace (isspace) and no NUL.
constexpr size_t IFNAME_MAX = 15;
static_assert(IFNAME_MAX == IFNAMSIZ - 1, "IFNAME_MAX is IFNAMSIZ without its NUL");
constexpr std::string_view IFNAME_FORBIDDEN = "/:";
constexpr std::string_view IFNAME_RESERVED[] = {".", ".."};

// MTU of a link we create or change (68 is IPv4's minimum, RFC 791).
constexpr uint32_t MTU_MIN = 68;
constexpr uint32_t MTU_MAX = 65535;

// IFLA_IFALIAS: IFALIASZ (256) counts the NUL.
constexpr size_t ALIAS_MAX = 255;

// MAC addresses "aa:bb:cc:dd:ee:ff" (either case). An interface's address may not be
// all-zero, nor multicast (this bit of the first octet set).
constexpr size_t MAC_LEN = 6;
constexpr uint8_t MAC_MULTICAST_BIT = 0x01;

}  // namespace ctn::limits

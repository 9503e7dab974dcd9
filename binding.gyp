{
  "targets": [
    {
      "target_name": "ctnet_native",
      "sources": [
        "native/addon.cc",
        "native/conntrack.cc",
        "native/conntrack_js.cc",
        "native/exec.cc",
        "native/fifo.cc",
        "native/peercred.cc",
        "native/js_conv.cc",
        "native/kill_hook.cc",
        "native/netns.cc",
        "native/nft.cc",
        "native/nft_elems.cc",
        "native/nft_elems_js.cc",
        "native/nl_msg.cc",
        "native/nl_sock.cc",
        "native/ns_cache.cc",
        "native/ns_thread.cc",
        "native/plan_batch.cc",
        "native/plan_exec.cc",
        "native/plan_handles.cc",
        "native/plan_steps.cc",
        "native/rtnl_decode.cc",
        "native/rtnl_encode.cc",
        "native/rtnl_followups.cc",
        "native/rtnl_op.cc",
        "native/rtnl_validate.cc"
      ],
      "include_dirs": ["native"],
      "dependencies": ["<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"],
      "defines": ["NAPI_VERSION=9", "_GNU_SOURCE"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-O2", "-fvisibility=hidden"],
      "libraries": ["-ldl", "-lpthread"]
    },
    {
      "target_name": "ctnet-cni",
      "type": "executable",
      "sources": [
        "native/cni-shim/main.c",
        "native/cni-shim/json.c",
        "native/cni-shim/agent.c",
        "native/cni-shim/fallback.c"
      ],
      "include_dirs": ["native/cni-shim"],
      "defines": ["_GNU_SOURCE"],
      "cflags_c": ["-std=c11", "-Wall", "-Wextra", "-O2", "-fno-strict-aliasing"],
      "ldflags": ["-Wl,-O1"]
    }
  ]
}

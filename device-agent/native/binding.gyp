{
  "targets": [
    {
      "target_name": "fleet_native",
      "sources": ["src/native.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS", "_GNU_SOURCE"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra"],
      "cflags_cc!": ["-fno-exceptions"]
    },
    {
      "target_name": "fleet-lxc-start",
      "type": "executable",
      "sources": ["src/lxc-start-helper.c"],
      "cflags": ["-std=c11", "-Wall", "-Wextra", "-O2"],
      "libraries": ["-ldl"]
    }
  ]
}

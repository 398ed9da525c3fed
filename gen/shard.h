// `generate --shard I/N`: this process does the prompts p of --prompts-file with p mod N == I.
// Seeds and file names depend on p alone, so N shards write the files one process would.
#pragma once
#include <string>

namespace sdvk::gen {

struct Shard {
  int index = 0, count = 1;  // the whole run is shard 0/1
  bool has(int prompt) const { return prompt % count == index; }
};

// "I/N" with 0 <= I < N, both plain decimal numbers; Error naming --shard otherwise.
Shard parse_shard(const std::string& spec);

}  // namespace sdvk::gen

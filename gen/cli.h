// Command-line plumbing shared by the subcommands: argument access with one-line errors.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace sdvk::cli {

class Args {
 public:
  Args(std::string command, std::vector<std::string> args) : command_(std::move(command)), args_(std::move(args)) {}
  // Removes and returns the value of --name (or `fallback` when absent); throws Error when the
  // flag is given without a value, with an empty one or more than once.
  std::string take(const std::string& name, const std::string& fallback = "");
  // take() for free text where "" is a value ("" when absent): --negative-prompt "".
  std::string take_text(const std::string& name);
  bool take_flag(const std::string& name);  // removes --name, true if it was there (Error if twice)
  int take_int(const std::string& name, int fallback, int min, int max);
  double take_double(const std::string& name, double fallback, double min, double max, bool* present = nullptr);
  // A 64-bit unsigned value (seeds); `present` says whether the flag was given.
  uint64_t take_u64(const std::string& name, uint64_t fallback, bool* present = nullptr);
  std::vector<std::string> take_all(const std::string& name);  // every value of a repeatable flag
  // Throws Error naming the first argument nobody took.
  void expect_empty() const;
  // For --help, or no arguments at all: prints `usage` (stdout for --help, else stderr), sets
  // *status (0, or 2) and returns true.
  bool usage(const char* text, int* status);
  // The arguments nobody took, as positional ones; Error naming the first that looks like a flag.
  std::vector<std::string> positional() const;
  const std::vector<std::string>& rest() const { return args_; }
  const std::string& command() const { return command_; }  // as error messages name it

 private:
  // Removes the first --name VALUE or --name=VALUE; false when there is none.
  bool take_next(const std::string& name, std::string* value);
  // take_next, with an Error when the flag is given again.
  bool take_once(const std::string& name, std::string* value);

  std::string command_;
  std::vector<std::string> args_;
};

int cmd_devices(Args& args);
int cmd_bench(Args& args);
int cmd_tokenize(Args& args);
int cmd_inspect(Args& args);
int cmd_component(Args& args);
int cmd_generate(Args& args);
int cmd_score(Args& args);
int cmd_classify(Args& args);
int cmd_index(Args& args);
int cmd_search(Args& args);

}  // namespace sdvk::cli

// Every command's --help: the usage on stdout, exit 0; a command that needs arguments and got
// none prints it on stderr and exits 2 (a script that forgot its arguments fails).
#include <gtest/gtest.h>

#include "tests/support/cli_run.h"

using sdvk::test::run_cli;

TEST(CliHelp, EveryCommandPrintsItsUsage) {
  for (const std::string command : {"generate", "bench", "bench sd15", "bench sdxl", "tokenize", "inspect", "component",
                                    "score", "classify", "index", "search"}) {
    SCOPED_TRACE(command);
    auto r = run_cli(command + " --help");
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out.rfind("usage: sdvk " + command, 0), 0u) << r.out;
    EXPECT_TRUE(r.err.empty()) << r.err;
  }
}

TEST(CliHelp, NoArgumentsIsUsageOnStderr) {
  for (const std::string command : {"component", "score", "classify", "index", "search"}) {
    SCOPED_TRACE(command);
    auto r = run_cli(command);
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_TRUE(r.out.empty()) << r.out;
    EXPECT_EQ(r.err.rfind("usage: sdvk " + command, 0), 0u) << r.err;
  }
}

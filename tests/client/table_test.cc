#include "segtune/client/table.h"

#include <gtest/gtest.h>

namespace segtune::client {
namespace {

TEST(TableTest, AlignsColumnsToTheWidestCell) {
  Table table({"TRIAL", "STATE", "BEST"});
  table.AddRow({"s1-0000", "COMPLETED", "0.6120"});
  table.AddRow({"s1-0001", "RUNNING", "-"});
  EXPECT_EQ(table.Render(),
            "TRIAL    STATE      BEST\n"
            "s1-0000  COMPLETED  0.6120\n"
            "s1-0001  RUNNING    -\n");
}

TEST(TableTest, RightAlignsChosenColumns) {
  Table table({"NAME", "VALUE"});
  table.SetAlign(1, Table::Align::kRight);
  table.AddRow({"a", "1.5"});
  table.AddRow({"bb", "10.25"});
  EXPECT_EQ(table.Render(),
            "NAME  VALUE\n"
            "a       1.5\n"
            "bb    10.25\n");
}

TEST(TableTest, WithoutHeadersRendersRowsOnly) {
  Table table;
  table.AddRow({"state", "RUNNING"});
  table.AddRow({"objective", "val_miou (max)"});
  EXPECT_EQ(table.Render(),
            "state      RUNNING\n"
            "objective  val_miou (max)\n");
}

TEST(TableTest, PadsShortRowsAndTrimsTrailingSpaces) {
  Table table({"A", "B", "C"});
  table.AddRow({"x"});
  table.AddRow({"y", "long value", "z"});
  EXPECT_EQ(table.Render(),
            "A  B           C\n"
            "x\n"
            "y  long value  z\n");
}

TEST(TableTest, MeasuresUtf8ByCodePoints) {
  EXPECT_EQ(DisplayWidth("µs"), 2u);
  Table table({"K", "V"});
  table.AddRow({"µ", "1"});
  table.AddRow({"ab", "2"});
  EXPECT_EQ(table.Render(),
            "K   V\n"
            "µ   1\n"
            "ab  2\n");
}

}  // namespace
}  // namespace segtune::client

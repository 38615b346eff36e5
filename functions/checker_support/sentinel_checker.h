// sentinel_checker.h: a small helper for checker programs in C++, for problem setters without
// testlib.h. Same conventions (functions/special_judge.py): run as `checker input output answer`,
// exit 0 accepted, 1 wrong answer, 2 presentation error, 3 the checker's own failure, 7 points
// with "points <value>" first on the report; the report goes to stderr. The executor puts this
// file beside every C++ checker's sources: `#include "sentinel_checker.h"`.
//
//   int main(int argc, char **argv) {
//       sentinel::Checker c(argc, argv);
//       long long want = c.answer.integer(), got = c.output.integer();
//       if (got != want) c.wrong("expected " + std::to_string(want) + ", found " + std::to_string(got));
//       c.output.end();
//       c.accept("ok");
//   }
#pragma once
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

namespace sentinel {

enum Exit { ACCEPTED = 0, WRONG = 1, PRESENTATION = 2, FAILED = 3, POINTS = 7 };

[[noreturn]] inline void quit(Exit code, const std::string &message) {
    std::cerr << message << std::endl;
    std::exit(code);
}

// One of the three files, read token by token. A malformed or missing token in the output is a
// presentation error; in the input or the answer, the checker's own failure.
class Stream {
  public:
    Stream(const char *path, Exit on_error) : in_(path), on_error_(on_error), name_(path) {
        if (!in_) quit(FAILED, std::string("cannot open ") + path);
    }
    std::string token() {
        std::string word;
        if (!(in_ >> word)) quit(on_error_, "unexpected end of " + name_);
        return word;
    }
    long long integer() {
        std::string word = token();
        char *end = nullptr;
        long long value = std::strtoll(word.c_str(), &end, 10);
        if (word.empty() || *end != '\0') quit(on_error_, "not an integer in " + name_ + ": " + word);
        return value;
    }
    double real() {
        std::string word = token();
        char *end = nullptr;
        double value = std::strtod(word.c_str(), &end);
        if (word.empty() || *end != '\0') quit(on_error_, "not a number in " + name_ + ": " + word);
        return value;
    }
    bool at_end() {
        in_ >> std::ws;
        return in_.peek() == std::char_traits<char>::eof();
    }
    void end() {
        if (!at_end()) quit(on_error_ == PRESENTATION ? WRONG : on_error_, "extra data in " + name_);
    }

  private:
    std::ifstream in_;
    Exit on_error_;
    std::string name_;
};

class Checker {
  public:
    Checker(int argc, char **argv)
        : input(arg(argc, argv, 1), FAILED), output(arg(argc, argv, 2), PRESENTATION),
          answer(arg(argc, argv, 3), FAILED) {}
    Stream input, output, answer;
    [[noreturn]] void accept(const std::string &message = "ok") { quit(ACCEPTED, message); }
    [[noreturn]] void wrong(const std::string &message) { quit(WRONG, message); }
    [[noreturn]] void presentation(const std::string &message) { quit(PRESENTATION, message); }
    [[noreturn]] void fail(const std::string &message) { quit(FAILED, message); }
    [[noreturn]] void points(double value, const std::string &message = "") {
        std::ostringstream report;
        report << "points " << value << (message.empty() ? "" : " ") << message;
        quit(POINTS, report.str());
    }

  private:
    static const char *arg(int argc, char **argv, int index) {
        if (argc <= 3) quit(FAILED, "usage: checker <input> <output> <answer>");
        return argv[index];
    }
};

}  // namespace sentinel

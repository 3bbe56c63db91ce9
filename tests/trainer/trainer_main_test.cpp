// trainerMain: train / eval / predict / info end to end on the softmax plan, and argument errors.
#include "runtime/trainer_main.h"
#include "runtime/tensor_file.h"

#include <doctest/doctest.h>

#include "tests/runtime/png_writer.h"
#include "tests/runtime/test_util.h"
#include "tests/trainer/softmax_plan.h"
#include "tests/trainer/trainer_util.h"

using namespace sinter;
using sinter::test::Capture;
using sinter::test::mnistSubset;
using sinter::test::SoftmaxPlan;
using sinter::test::TempDir;

namespace {

struct Run {
  int status;
  std::string out, err;
};

Run run(const PlanTable& table, std::vector<std::string> args, TrainConfig defaults = {}) {
  args.insert(args.begin(), "softmax");
  Capture out, err;
  const int status = trainerMain(table, defaults, args, out.file(), err.file());
  return {status, out.text(), err.text()};
}

std::string bigEndian(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8), static_cast<char>(v)};
}

// A data directory holding the MNIST subset as plain IDX files.
void writeIdxDir(const TempDir& dir) {
  const auto write = [&](const char* name, const Dataset& d, bool images) {
    std::string bytes = bigEndian(images ? 0x803 : 0x801) + bigEndian(static_cast<uint32_t>(d.count));
    if (images) {
      bytes += bigEndian(28) + bigEndian(28);
      bytes.append(d.pixels.begin(), d.pixels.end());
    } else {
      for (int32_t l : d.labels) bytes += static_cast<char>(l);
    }
    sinter::test::writeBytes(dir.file(name), bytes);
  };
  write("train-images-idx3-ubyte", mnistSubset().train, true);
  write("train-labels-idx1-ubyte", mnistSubset().train, false);
  write("t10k-images-idx3-ubyte", mnistSubset().test, true);
  write("t10k-labels-idx1-ubyte", mnistSubset().test, false);
}

}  // namespace

TEST_CASE("trainerMain: train, eval and predict from the command line") {
  TempDir dir;
  writeIdxDir(dir);
  SoftmaxPlan plan;
  const std::string ckpt = dir.file("ckpt.safetensors");
  TrainConfig defaults;
  defaults.optimizer.lr = 0.01;
  defaults.batch = 50;

  Run trained = run(plan.table, {"train", "--data", dir.path().string(), "--epochs", "1", "--threads=2", "--seed", "3",
                                 "--save", ckpt, "--log", dir.file("log.jsonl"), "--plot", dir.file("curves.svg")},
                    defaults);
  INFO(trained.err);
  REQUIRE(trained.status == 0);
  CHECK(trained.err.empty());
  CHECK(trained.out.find("training softmax on 2000 train images, 1000 test; 40 steps of batch 50") != std::string::npos);
  CHECK(trained.out.find("epoch 1/1  train loss ") != std::string::npos);
  CHECK(trained.out.find("saved " + ckpt) != std::string::npos);
  CHECK(sinter::test::readBytes(dir.file("log.jsonl")).starts_with("{\"epoch\":1,\"epochs\":1,\"step\":40,"));
  // --plot: the run's curves, named after the log (train loss, test loss, test acc; no validation split).
  const std::string svg = sinter::test::readBytes(dir.file("curves.svg"));
  CHECK(svg.find(R"(<polyline data-curve="train loss" data-run="log" points=")") != std::string::npos);
  CHECK(svg.find(R"(<polyline data-curve="test acc" data-run="log" points=")") != std::string::npos);
  CHECK(svg.find(R"(data-curve="val loss")") == std::string::npos);

  Run evaluated = run(plan.table, {"eval", "--weights", ckpt, "--data", dir.path().string(), "--batch", "64"});
  INFO(evaluated.err);
  REQUIRE(evaluated.status == 0);
  CHECK(evaluated.out.find("test loss ") != std::string::npos);
  CHECK(evaluated.out.find("test acc ") != std::string::npos);
  CHECK(evaluated.out.find("(1000 images, ") != std::string::npos);

  // A checkpoint with a tensor the model lacks: an error, unless --allow-unexpected (which names it).
  {
    Expected<TensorFile> file = readSafetensors(ckpt);
    REQUIRE(file.ok());
    file->tensors.push_back(NamedTensor::fromFloats("head.weight", {2}, std::vector<float>{1, 2}));
    const std::string extra = dir.file("extra.safetensors");
    REQUIRE(writeSafetensors(extra, *file).ok());
    Run strict = run(plan.table, {"eval", "--weights", extra, "--data", dir.path().string()});
    CHECK(strict.status == 1);
    CHECK(strict.err == "error: " + extra + ": 'head.weight' is not a parameter or state of model 'softmax' "
                        "(--allow-unexpected ignores them)\n");
    Run allowed = run(plan.table, {"eval", "--weights", extra, "--data", dir.path().string(), "--allow-unexpected"});
    INFO(allowed.err);
    CHECK(allowed.status == 0);
    CHECK(allowed.out.find(extra + ": ignored 1 tensor model 'softmax' does not have: 'head.weight'\n") != std::string::npos);
    CHECK(allowed.out.find(evaluated.out.substr(evaluated.out.find("test acc "), 16)) != std::string::npos);
  }

  // The test images as an IDX file and image 0 as a PGM: one line per image.
  const Dataset& test = mnistSubset().test;
  std::string pgm = "P5\n28 28\n255\n";
  pgm.append(test.pixels.begin(), test.pixels.begin() + 784);
  sinter::test::writeBytes(dir.file("digit.pgm"), pgm);
  // The same image as PNGs: 8-bit grey, and RGB with equal channels (its luma is the grey value).
  const std::vector<uint8_t> grey(test.pixels.begin(), test.pixels.begin() + 784);
  std::vector<uint8_t> rgb;
  for (uint8_t v : grey) rgb.insert(rgb.end(), {v, v, v});
  sinter::test::writePng(dir.file("digit.png"), 28, 28, PNG_COLOR_TYPE_GRAY, 8, grey);
  sinter::test::writePng(dir.file("digit-rgb.png"), 28, 28, PNG_COLOR_TYPE_RGB, 8, rgb);
  const std::string idx = dir.file("t10k-images-idx3-ubyte");
  Run predicted = run(plan.table, {"predict", "--weights", ckpt, dir.file("digit.pgm"), idx, dir.file("digit.png"),
                                   dir.file("digit-rgb.png")});
  INFO(predicted.err);
  REQUIRE(predicted.status == 0);
  std::vector<std::string> lines;
  for (size_t start = 0, nl; (nl = predicted.out.find('\n', start)) != std::string::npos; start = nl + 1)
    lines.push_back(predicted.out.substr(start, nl - start));
  REQUIRE(lines.size() == 1003);
  // The PNGs get the PGM's answer, probability and all.
  const std::string pgmAnswer = lines[0].substr(dir.file("digit.pgm").size());
  CHECK(lines[1001] == dir.file("digit.png") + pgmAnswer);
  CHECK(lines[1002] == dir.file("digit-rgb.png") + pgmAnswer);
  lines.resize(1001);
  const auto classOf = [](const std::string& line) { return std::stoi(line.substr(line.find(": class ") + 8)); };
  CHECK(lines[0].starts_with(dir.file("digit.pgm") + ": class "));
  CHECK(lines[1].starts_with(idx + "[0]: class "));
  CHECK(lines[1000].starts_with(idx + "[999]: class "));
  CHECK(classOf(lines[0]) == classOf(lines[1]));
  CHECK(lines[1].find(" (p = ") != std::string::npos);
  // predict and eval agree: the classes printed are right exactly as often as eval says.
  int correct = 0;
  for (size_t i = 1; i < lines.size(); ++i) correct += classOf(lines[i]) == test.labels[i - 1];
  CHECK(evaluated.out.find(fmt::format("test acc {:.2f}%", correct / 10.0)) != std::string::npos);
  CHECK(correct >= 700);
}

TEST_CASE("trainerMain: info") {
  SoftmaxPlan plan;
  Run r = run(plan.table, {"info"});
  REQUIRE(r.status == 0);
  CHECK(r.out.find("model        softmax\n") != std::string::npos);
  CHECK(r.out.find("target       cpu\n") != std::string::npos);
  CHECK(r.out.find("parameters   7,850 in 2 tensors\n") != std::string::npos);
  CHECK(r.out.find("FLOPs/step   4.7 MFLOP (train_step at batch 100)\n") != std::string::npos);
  CHECK(r.out.find("max batch    100\n") != std::string::npos);
  CHECK(r.out.find("state arena  ") != std::string::npos);
  CHECK(r.out.find("work arena   ") != std::string::npos);
  CHECK(r.out.find("train_step (7 kernel calls), eval (3 kernel calls)") != std::string::npos);
}

TEST_CASE("trainerMain: argument errors are one line and exit 1") {
  SoftmaxPlan plan;
  const auto error = [&](std::vector<std::string> args, TrainConfig defaults = {}) {
    Run r = run(plan.table, std::move(args), defaults);
    CHECK(r.status == 1);
    return r.err;
  };
  CHECK(error({}).starts_with("usage: softmax train"));
  CHECK(run(plan.table, {"--help"}).status == 0);
  CHECK(error({"fit"}) == "error: unknown command 'fit' (commands: train, eval, predict, info)\n");
  CHECK(error({"train", "--epoch", "3"}) ==
        "error: unknown option '--epoch' for 'train' (options: --data --epochs --batch --lr --threads --seed --save "
        "--resume --log --plot --check-numerics --allow-unexpected)\n");
  CHECK(error({"info", "--data", "x"}) == "error: unknown option '--data' for 'info' (it takes none)\n");
  CHECK(error({"train", "--batch", "512"}) ==
        "error: --batch 512 is above the plan's maximum batch 100 (compile the model with a larger maximum batch)\n");
  TrainConfig bigBatch;
  bigBatch.batch = 128;
  CHECK(error({"train"}, bigBatch) == "error: the model's batch 128 is above the plan's maximum batch 100\n");
  CHECK(error({"train", "--epochs", "0"}) == "error: --epochs expects a positive integer, got '0'\n");
  CHECK(error({"train", "--epochs", "2x"}) == "error: --epochs expects a positive integer, got '2x'\n");
  CHECK(error({"train", "--lr", "fast"}) == "error: --lr expects a non-negative number, got 'fast'\n");
  CHECK(error({"train", "--seed", "-1"}) == "error: --seed expects a non-negative integer, got '-1'\n");
  CHECK(error({"train", "--threads", "-2"}) == "error: --threads expects a non-negative integer, got '-2'\n");
  CHECK(error({"train", "--data"}) == "error: --data needs a value\n");
  CHECK(error({"train", "--epochs", "1", "--epochs", "2"}) == "error: --epochs is given twice\n");
  CHECK(error({"train", "extra"}) == "error: 'train' takes no file arguments (got 'extra')\n");
  CHECK(error({"eval", "--data", "x"}) == "error: eval needs --weights F (a checkpoint written by train --save)\n");
  CHECK(error({"predict", "--weights", "w.safetensors"}) == "error: predict needs at least one image file (PGM, PNG or IDX)\n");
  const std::string missing = error({"train", "--data", "/nonexistent/sinter-data"});
  CHECK(missing.starts_with("error: "));
  CHECK(missing.find("/nonexistent/sinter-data") != std::string::npos);
  CHECK(std::count(missing.begin(), missing.end(), '\n') == 1);
  const std::string noWeights = error({"eval", "--weights", "/nonexistent/w.safetensors"});
  CHECK(noWeights.starts_with("error: /nonexistent/w.safetensors: "));
}

TEST_CASE("trainerMain: predict's PNG errors name the file") {
  TempDir dir;
  SoftmaxPlan plan;
  // Files are read before the weights, so none are needed to see these errors.
  const auto error = [&](const std::string& file) {
    Run r = run(plan.table, {"predict", "--weights", dir.file("none.safetensors"), file});
    CHECK(r.status == 1);
    return r.err;
  };
  sinter::test::writePng(dir.file("small.png"), 4, 5, PNG_COLOR_TYPE_GRAY, 8, std::vector<uint8_t>(20, 7));
  CHECK(error(dir.file("small.png")) ==
        "error: model input 'image' is [B, 1, 28, 28] but " + dir.file("small.png") + "'s pixels are [1, 5, 4]\n");
  sinter::test::writePng(dir.file("whole.png"), 28, 28, PNG_COLOR_TYPE_GRAY, 8, std::vector<uint8_t>(784, 9));
  const std::string bytes = sinter::test::readBytes(dir.file("whole.png"));
  sinter::test::writeBytes(dir.file("cut.png"), std::string_view(bytes).substr(0, bytes.size() / 2));
  CHECK(error(dir.file("cut.png")).starts_with("error: " + dir.file("cut.png") + ": damaged or truncated PNG (libpng: "));
}

TEST_CASE("trainerMain: --plot after early stopping, with a validation split") {
  TempDir dir;
  writeIdxDir(dir);
  SoftmaxPlan plan;
  TrainConfig defaults;
  defaults.optimizer.lr = 0.01;
  defaults.batch = 50;
  defaults.validation = 0.1;
  defaults.earlyStopping = {true, 1, 10.0};  // an improvement of 10 never comes: stops after epoch 2
  Run r = run(plan.table, {"train", "--data", dir.path().string(), "--epochs", "5", "--plot", dir.file("c.svg")}, defaults);
  INFO(r.err);
  REQUIRE(r.status == 0);
  CHECK(r.out.find("early stopping: ") != std::string::npos);
  const std::string svg = sinter::test::readBytes(dir.file("c.svg"));
  // Named after the model (no --log); two epochs of every curve, validation included.
  for (const char* curve : {"train loss", "val loss", "test loss", "val acc", "test acc"}) {
    CAPTURE(curve);
    const std::string tag = fmt::format(R"(<circle class="marker" data-curve="{}" data-run="softmax")", curve);
    size_t count = 0;
    for (size_t at = svg.find(tag); at != std::string::npos; at = svg.find(tag, at + 1)) ++count;
    CHECK(count == 2);
  }
}

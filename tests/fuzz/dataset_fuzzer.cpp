// libFuzzer entry point for the dataset and image loaders: the first byte picks the reader (IDX
// images, IDX labels, a CIFAR-10 batch, PGM, PNG as grey or RGB), the rest is the file. Any file gives data whose sizes
// agree with its header, or an error that names the file; the header never makes a reader allocate
// more than the bytes hold.
#include "runtime/dataset.h"
#include "runtime/png.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

using namespace sinter;
using namespace sinter::fuzz;

template <typename T>
bool checkError(const Expected<T>& r, std::string_view name) {
  if (r) return true;
  require(startsWith(r.error().message(), std::string(name) + ": "));
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::span<const uint8_t> file = bytes(data + 1, size - 1);
  switch (data[0] % 6) {
    case 0: {
      auto images = parseIdxImages(file, "images-idx3-ubyte");
      if (checkError(images, "images-idx3-ubyte"))
        require(images->pixels.size() == static_cast<size_t>(images->count * images->height * images->width));
      break;
    }
    case 1: {
      auto labels = parseIdxLabels(file, "labels-idx1-ubyte");
      if (checkError(labels, "labels-idx1-ubyte"))
        for (int32_t l : *labels) require(l >= 0 && l < 10);
      break;
    }
    case 2: {
      auto batch = parseCifarBatch(file, "data_batch_1.bin");
      if (checkError(batch, "data_batch_1.bin"))
        require(batch->pixels.size() == static_cast<size_t>(batch->count * batch->imageSize()) &&
                batch->labels.size() == static_cast<size_t>(batch->count));
      break;
    }
    case 3: {
      auto image = parsePgm(file, "image.pgm");
      if (checkError(image, "image.pgm"))
        require(image->pixels.size() == static_cast<size_t>(image->width * image->height));
      break;
    }
    case 4:
    case 5: {
      const int64_t channels = data[0] % 6 == 4 ? 1 : 3;
      auto image = decodePng(file, "image.png", channels);
      if (checkError(image, "image.png"))
        require(image->channels == channels &&
                image->pixels.size() == static_cast<size_t>(channels * image->height * image->width));
      break;
    }
  }
  return 0;
}

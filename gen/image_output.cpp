#include "gen/image_output.h"

#include "core/error.h"
#include "image/image.h"
#include "pipeline/images.h"

namespace sdvk::gen {

void write_image_png(const std::string& path, const HostTensor& images, int index, const GenerationParameters& record) {
  write_png(path, pipeline::to_image(images, index), {{"parameters", format_parameters(record)}});
}

HostTensor read_init_image(const std::string& path, int width, int height, int batch) {
  Image img;
  try {
    img = read_image(path);
  } catch (const Error& e) {
    throw Error(std::string("--init-image: ") + e.what());
  }
  if ((width && width != img.width) || (height && height != img.height))
    throw Error("--init-image " + path + ": the image is " + std::to_string(img.width) + "x" + std::to_string(img.height) +
                ", not the " + std::to_string(width ? width : img.width) + "x" +
                std::to_string(height ? height : img.height) + " asked for (leave --width/--height out to use its size)");
  return pipeline::to_tensor(img, batch);
}

}  // namespace sdvk::gen

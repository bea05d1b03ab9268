// Arming one deadline on an executor's clock (detail/deadline.hpp).
#include "xcoro/detail/deadline.hpp"

#include "xcoro/coro.hpp"
#include "xcoro/executor.hpp"

namespace xcoro::detail {

armed_deadline::armed_deadline(deadline& d, xcoro::executor& ex, const char* call,
                               const coro* self)
    : clock_(executor_access::clock(ex)), d_(d) {
  if (clock_ == nullptr) {
    fatal(call, self,
          "has a deadline, but its executor has no clock to run it (deadlines need the "
          "executor of an aio loop)");
  }
  clock_->arm(d);
}

armed_deadline::~armed_deadline() {
  if (d_.armed()) {
    clock_->disarm(d_);
  }
}

}  // namespace xcoro::detail

// response_mode=form_post: submit the hidden form back to the client straight away.
document.addEventListener("DOMContentLoaded", function () {
  var form = document.getElementById("kc-form-post");
  if (form) {
    form.submit();
  }
});

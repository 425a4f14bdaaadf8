// Send the signed result back to the merchant's receipt page straight away; the button is the no-JS path.
document.addEventListener("DOMContentLoaded", function () {
  var form = document.getElementById("sa-return");
  if (form) {
    form.submit();
  }
});

// "Copy" buttons of the key-shown-once page. No dependencies, no network.
"use strict";
document.addEventListener("click", function (event) {
    const button = event.target.closest("button[data-copy-target]");
    if (!button) {
        return;
    }
    event.preventDefault();
    const field = document.getElementById(button.dataset.copyTarget);
    const done = function () {
        button.textContent = "Copied";
        window.setTimeout(function () { button.textContent = "Copy"; }, 2000);
    };
    field.select();
    if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(field.value).then(done, function () {
            document.execCommand("copy");
            done();
        });
    } else {
        // Plain-HTTP admin (not localhost): the older API still copies the selection.
        document.execCommand("copy");
        done();
    }
});
